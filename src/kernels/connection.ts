/**
 * Connection files: the ports, transport and HMAC key a kernel binds to.
 * See https://jupyter-client.readthedocs.io/en/latest/kernels.html#connection-files
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel } from './messages';

/** The connection file's content, in Jupyter's field names. */
export interface ConnectionInfo {
  readonly transport: 'tcp' | 'ipc';
  readonly ip: string;
  readonly shell_port: number;
  readonly iopub_port: number;
  readonly stdin_port: number;
  readonly control_port: number;
  readonly hb_port: number;
  readonly key: string;
  readonly signature_scheme: 'hmac-sha256';
  readonly kernel_name: string;
}

/** Loopback only: kernels are never reachable from another host. */
export const KERNEL_IP = '127.0.0.1';

/** The ZeroMQ address of one channel. */
export function channelAddress(info: ConnectionInfo, channel: Channel): string {
  const port = {
    shell: info.shell_port,
    iopub: info.iopub_port,
    stdin: info.stdin_port,
    control: info.control_port,
    hb: info.hb_port,
  }[channel];
  // ipc: `ip` is a path prefix, one socket file per channel (jupyter_client's convention).
  return info.transport === 'ipc'
    ? `ipc://${info.ip}-${port}`
    : `${info.transport}://${info.ip}:${port}`;
}

/**
 * Ports that were free a moment ago. Another process may take one before the
 * kernel binds it; the launcher retries with new ports when that happens.
 */
export async function freePorts(count: number, host: string = KERNEL_IP): Promise<number[]> {
  // All listeners stay open until every port is known, so the same port is not handed out twice.
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i += 1) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, host, () => {
            const addr = server.address();
            if (addr === null || typeof addr === 'string') reject(new Error('no port assigned'));
            else resolve(addr.port);
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** A fresh connection description with a random 256-bit key. */
export async function newConnectionInfo(kernelName: string): Promise<ConnectionInfo> {
  const [shell, iopub, stdin, control, hb] = await freePorts(5);
  return {
    transport: 'tcp',
    ip: KERNEL_IP,
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    key: randomBytes(32).toString('hex'),
    signature_scheme: 'hmac-sha256',
    kernel_name: kernelName,
  };
}

/** Who the kernel process runs as on the host, when that is not the gateway's own user. */
export interface KernelOwner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * A private runtime directory with the connection file written; for `ipc` the
 * kernel's sockets are bound in its `sockets/` subdirectory (ports are just
 * suffixes, so there is no race for them).
 *
 * When the kernel runs as another user (`owner`), the directory belongs to the
 * gateway with the kernel's group: the kernel may read the connection file and
 * bind its sockets, and nothing more.
 */
export async function prepareConnection(
  kernelName: string,
  transport: 'tcp' | 'ipc',
  owner?: KernelOwner,
): Promise<{ info: ConnectionInfo; runtime: KernelRuntimeDir }> {
  const dir = await mkdtemp(join(tmpdir(), RUNTIME_DIR_PREFIX));
  try {
    const socketDir = join(dir, 'sockets');
    const info: ConnectionInfo =
      transport === 'ipc'
        ? {
            transport: 'ipc',
            ip: join(socketDir, 'kernel'),
            shell_port: 1,
            iopub_port: 2,
            stdin_port: 3,
            control_port: 4,
            hb_port: 5,
            key: randomBytes(32).toString('hex'),
            signature_scheme: 'hmac-sha256',
            kernel_name: kernelName,
          }
        : await newConnectionInfo(kernelName);
    return { info, runtime: await fillRuntimeDir(dir, info, owner) };
  } catch (err) {
    await removeRuntimeDir(dir);
    throw err;
  }
}

/** A private directory (0700) holding the connection file (0600) and what else the kernel needs of the gateway. */
export interface KernelRuntimeDir {
  readonly dir: string;
  readonly connectionFile: string;
  /** The kernel's working directory when it shares the host's file system. */
  readonly workDir: string;
  /** Where an ipc kernel binds its sockets: the only place it may write. */
  readonly socketDir: string;
  /** Where the gateway binds the Unix sockets that forward to targets. */
  readonly forwardDir: string;
  /** Files the sandbox shows as /etc/hosts, /etc/passwd, /etc/group. */
  readonly etcDir: string;
  /** Set when the kernel runs as another user than the gateway. */
  readonly owner: KernelOwner | undefined;
}

/** Name prefix of the private runtime directories under the system temp dir. */
export const RUNTIME_DIR_PREFIX = 'rungate-kernel-';

async function fillRuntimeDir(
  dir: string,
  info: ConnectionInfo,
  owner: KernelOwner | undefined,
): Promise<KernelRuntimeDir> {
  const runtime: KernelRuntimeDir = {
    dir,
    connectionFile: join(dir, 'connection.json'),
    workDir: join(dir, 'work'),
    socketDir: join(dir, 'sockets'),
    forwardDir: join(dir, 'fwd'),
    etcDir: join(dir, 'etc'),
    owner,
  };
  // 'wx' refuses to follow anything planted at that path.
  await writeFile(runtime.connectionFile, JSON.stringify(info, null, 2), {
    mode: 0o600,
    flag: 'wx',
  });
  for (const sub of [runtime.workDir, runtime.socketDir, runtime.forwardDir, runtime.etcDir])
    await mkdir(sub, { mode: 0o700 });
  if (owner !== undefined) {
    // Group access for the kernel's user; the gateway keeps ownership, so the kernel
    // can neither replace these files nor plant links the gateway would follow.
    await chown(dir, -1, owner.gid);
    await chmod(dir, 0o750);
    await chown(runtime.connectionFile, -1, owner.gid);
    await chmod(runtime.connectionFile, 0o640);
    await chown(runtime.socketDir, -1, owner.gid);
    await chmod(runtime.socketDir, 0o770);
    await chown(runtime.forwardDir, -1, owner.gid);
    await chmod(runtime.forwardDir, 0o750);
    await chmod(runtime.etcDir, 0o755);
    await chown(runtime.workDir, owner.uid, owner.gid);
  }
  return runtime;
}

export async function removeRuntimeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
