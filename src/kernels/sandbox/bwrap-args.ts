/**
 * The bubblewrap command line of a sandboxed kernel: new user, PID, IPC, UTS,
 * cgroup, mount (and by default network) namespaces; a read-only view of the
 * system and of the kernel's Python environment; a private, size-bounded home and
 * /tmp; the kernel's runtime directory and nothing else of the gateway's.
 * See https://github.com/containers/bubblewrap (bwrap(1)).
 */
import type { KernelRuntimeDir } from '../connection';
import type { KernelNetworkMode } from '../provisioner';

/** The kernel's home inside the sandbox. */
export const SANDBOX_HOME = '/home/kernel';
export const SANDBOX_HOSTNAME = 'rungate-kernel';

/** Top-level system entries shown read-only (as links where they are links on the host). */
export const SYSTEM_PATHS: readonly string[] = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
];

/**
 * The parts of /etc a kernel needs to run Python, resolve its targets' names and
 * verify TLS; nothing that names the host's users, services or secrets.
 */
export const ETC_PATHS: readonly string[] = [
  '/etc/alternatives',
  '/etc/ca-certificates',
  '/etc/ca-certificates.conf',
  '/etc/fonts',
  '/etc/gai.conf',
  '/etc/host.conf',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/mime.types',
  '/etc/nsswitch.conf',
  '/etc/pki',
  '/etc/protocols',
  '/etc/services',
  '/etc/ssl',
  '/etc/timezone',
];

/** Character devices a process expects; no others exist in the sandbox. */
export const DEVICES: readonly string[] = [
  '/dev/null',
  '/dev/zero',
  '/dev/full',
  '/dev/random',
  '/dev/urandom',
];

/** How one host path appears: a read-only copy, or the same symbolic link. */
export type HostPath = { readonly path: string; readonly link?: string };

export interface BwrapOptions {
  /** The uid and gid the kernel has inside (its own host ids: no mapping to root anywhere). */
  readonly uid: number;
  readonly gid: number;
  readonly network: KernelNetworkMode;
  readonly runtime: KernelRuntimeDir;
  /** System entries that exist on the host, with their link targets. */
  readonly system: readonly HostPath[];
  /** /etc entries that exist on the host. */
  readonly etc: readonly string[];
  /** The kernel's environment and helper packages, shown read-only at the same paths. */
  readonly readOnly: readonly string[];
  /** Bytes of each private tmpfs (home, /tmp, /dev/shm). */
  readonly tmpBytes: number;
  /** Of /etc/hosts and /etc/resolv.conf, those the host has (used in host network mode). */
  readonly hostResolvers: readonly string[];
}

/** bwrap's arguments up to and including `--`; the kernel's argv follows. */
export function bwrapArgs(o: BwrapOptions): string[] {
  const args: string[] = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(o.network === 'private' ? ['--unshare-net'] : []),
    // The kernel's own ids inside: bwrap then needs no second, nested user namespace
    // (which /dev's devpts would force), so /proc/self/uid_map shows the host uid.
    '--uid',
    String(o.uid),
    '--gid',
    String(o.gid),
    '--hostname',
    SANDBOX_HOSTNAME,
    // A kernel outlives neither bwrap nor the gateway; no controlling terminal to push input into.
    '--die-with-parent',
    '--new-session',
  ];
  for (const entry of o.system) {
    if (entry.link !== undefined) args.push('--symlink', entry.link, entry.path);
    else args.push('--ro-bind', entry.path, entry.path);
  }
  for (const path of o.etc) args.push('--ro-bind', path, path);
  const etc = o.runtime.etcDir;
  // On the host network names resolve as on the host; in a private one only the
  // forwarded targets' names exist (the sandbox's own hosts file).
  if (o.network === 'host') {
    for (const path of ['/etc/hosts', '/etc/resolv.conf'].filter((p) =>
      o.hostResolvers.includes(p),
    ))
      args.push('--ro-bind', path, path);
  } else args.push('--ro-bind', `${etc}/hosts`, '/etc/hosts');
  args.push('--ro-bind', `${etc}/passwd`, '/etc/passwd', '--ro-bind', `${etc}/group`, '/etc/group');
  args.push('--proc', '/proc', '--dir', '/dev');
  for (const dev of DEVICES) args.push('--dev-bind', dev, dev);
  args.push('--symlink', '/proc/self/fd', '/dev/fd');
  for (const [i, name] of ['stdin', 'stdout', 'stderr'].entries())
    args.push('--symlink', `/proc/self/fd/${i}`, `/dev/${name}`);
  const size = String(o.tmpBytes);
  args.push('--size', size, '--tmpfs', '/dev/shm');
  args.push('--size', size, '--tmpfs', '/tmp');
  args.push('--size', size, '--tmpfs', SANDBOX_HOME);
  for (const path of o.readOnly) args.push('--ro-bind', path, path);
  // The runtime directory read-only (connection file, forwarder sockets), its
  // socket directory writable: the only host path the kernel may write to.
  args.push('--ro-bind', o.runtime.dir, o.runtime.dir);
  args.push('--bind', o.runtime.socketDir, o.runtime.socketDir);
  args.push('--chdir', SANDBOX_HOME);
  args.push('--');
  return args;
}

/** /etc/passwd and /etc/group of the sandbox: the kernel's own user and nothing else. */
export function identityFiles(uid: number, gid: number): { passwd: string; group: string } {
  return {
    passwd: `kernel:x:${uid}:${gid}:rungate kernel:${SANDBOX_HOME}:/usr/sbin/nologin\n`,
    group: `kernel:x:${gid}:\n`,
  };
}

/** /etc/hosts of the sandbox: loopback, plus the names of forwarded targets. */
export function hostsFile(entries: ReadonlyArray<{ name: string; ip: string }>): string {
  const lines = ['127.0.0.1\tlocalhost', `127.0.1.1\t${SANDBOX_HOSTNAME}`, '::1\tlocalhost'];
  for (const e of entries) lines.push(`${e.ip}\t${e.name}`);
  return `${lines.join('\n')}\n`;
}
