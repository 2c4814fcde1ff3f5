/**
 * The kernel sandbox, probed from inside real kernels the way a hostile runbook
 * author would: what a cell can see, reach and use up. See docs/security.md.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AppConfig } from '../../src/config/config.types';
import { KernelsService } from '../../src/kernels/kernels.service';
import type { ExecuteResult, Kernel } from '../../src/kernels/kernels.types';
import { isStreamMsg } from '../../src/kernels/messages';
import { pythonAdapter } from '../../src/kernels/languages';
import { within } from '../support/deadline';
import { kernelTestConfig, processExists, waitUntil } from '../support/kernels';
import { listen, ownAddress } from '../support/net';

const SECRET = 'gateway-secret-4f1c9a';

async function run(kernel: Kernel, code: string): Promise<{ result: ExecuteResult; out: string }> {
  let out = '';
  const result = await kernel.execute(code, {
    onIopub: (m) => {
      if (isStreamMsg(m)) out += m.content.text;
    },
  });
  return { result, out };
}

/** Runs a probe that prints one JSON document. */
async function probe<T>(kernel: Kernel, code: string): Promise<T> {
  const { result, out } = await run(kernel, code);
  expect(result.status, out).toBe('ok');
  return JSON.parse(out) as T;
}

/** Tries a TCP connection from inside the kernel; prints 'connected' or the error. */
function connectProbe(host: string, port: number): string {
  return [
    'import socket, json',
    'try:',
    `    s = socket.create_connection((${JSON.stringify(host)}, ${port}), timeout=3)`,
    '    s.close(); r = "connected"',
    'except OSError as e:',
    '    r = type(e).__name__',
    'print(json.dumps(r))',
  ].join('\n');
}

describe('kernel sandbox', () => {
  let config: AppConfig;
  let cleanup: () => Promise<void>;
  let service: KernelsService;
  let kernel: Kernel;
  let other: Kernel;
  let secrets: string;

  beforeAll(async () => {
    secrets = await mkdtemp(join(tmpdir(), 'rungate-secrets-'));
    await writeFile(join(secrets, 'admin-url'), `postgresql://admin:${SECRET}@db/x`);
    ({ config, cleanup } = await kernelTestConfig({
      RUNGATE_KERNEL_MEMORY_LIMIT_MB: '384',
      // tmpfs pages count against the memory limit: well below it.
      RUNGATE_KERNEL_TMP_SIZE_MB: '64',
      RUNGATE_KERNEL_PIDS_LIMIT: '48',
      RUNGATE_KERNEL_CPU_SECONDS: '2',
    }));
    await mkdir(config.dataDir, { recursive: true });
    service = new KernelsService(config, { ...process.env, DATABASE_URL: SECRET });
    await service.onModuleInit();
    [kernel, other] = await Promise.all([service.acquire(), service.acquire()]);
  });

  afterAll(async () => {
    await service?.onApplicationShutdown();
    await cleanup?.();
    await rm(secrets, { recursive: true, force: true });
  });

  it('shows the cell no other process, and none of the gateway or of other kernels', async () => {
    const seen = await probe<{ pids: string[]; gateway: boolean; environ: string | null }>(
      kernel,
      [
        'import os, json',
        'pids = [p for p in os.listdir("/proc") if p.isdigit()]',
        'def read(p):',
        '    try:',
        '        return open(p, "rb").read().decode(errors="replace")',
        '    except OSError as e:',
        '        return None',
        `print(json.dumps({"pids": pids, "gateway": os.path.exists("/proc/${process.pid}"),`,
        `  "environ": read("/proc/${other.pid}/environ")}))`,
      ].join('\n'),
    );
    // bwrap's init and the kernel (plus whatever the kernel itself runs right now).
    expect(seen.pids.map(Number).every((p) => p <= 10)).toBe(true);
    expect(seen.gateway).toBe(false);
    expect(seen.environ).toBeNull();
    // The control: the host does see both processes.
    expect(processExists(other.pid)).toBe(true);
  });

  it("keeps the gateway's files, secrets and other kernels' connection files out of view", async () => {
    const paths = [
      config.dataDir,
      join(config.rootDir, 'policies'),
      join(config.rootDir, 'targets.example.yaml'),
      join(config.rootDir, 'src'),
      secrets,
      join(secrets, 'admin-url'),
      '/root',
      '/etc/shadow',
      '/etc/rungate',
    ];
    const result = await probe<Record<string, boolean>>(
      kernel,
      `import os, json\nprint(json.dumps({p: os.path.exists(p) for p in ${JSON.stringify(paths)}}))`,
    );
    for (const p of paths) expect({ [p]: result[p] }).toEqual({ [p]: false });
    const tmp = await probe<string[]>(
      kernel,
      'import os, json\nprint(json.dumps([n for n in os.listdir("/tmp") if n.startswith("rungate-")]))',
    );
    // Its own runtime directory only: never another kernel's (with its HMAC key).
    expect(tmp).toHaveLength(1);
    const env = await probe<Record<string, string>>(
      kernel,
      'import os, json\nprint(json.dumps(dict(os.environ)))',
    );
    expect(JSON.stringify(env)).not.toContain(SECRET);
  });

  it('runs the kernel as an unprivileged user, also on the host, without capabilities', async () => {
    const ids = await probe<{ uid: number; map: string; status: string }>(
      kernel,
      'import os, json\nprint(json.dumps({"uid": os.getuid(), "map": open("/proc/self/uid_map").read(), "status": open("/proc/self/status").read()}))',
    );
    expect(ids.uid).not.toBe(0);
    const [inside, host] = ids.map.trim().split(/\s+/).map(Number);
    expect(inside).toBe(ids.uid);
    expect(host).not.toBe(0);
    expect(ids.status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(ids.status).toMatch(/^CapEff:\s+0+$/m);
  });

  it("reaches no address of the host: not the gateway's ports, its database or broker, nor another interface", async () => {
    const server = createServer((s) => s.end());
    const port = await listen(server, '127.0.0.1');
    const pg = new URL(inject('postgresUrl'));
    const [kafkaHost, kafkaPort] = inject('kafkaBrokers').split(',')[0].split(':');
    const own = ownAddress();
    const wide = createServer((s) => s.end());
    const widePort = await listen(wide, '0.0.0.0');
    try {
      const targets: Array<[string, number]> = [
        ['127.0.0.1', port],
        [pg.hostname, Number(pg.port)],
        [kafkaHost, Number(kafkaPort)],
        ...(own ? ([[own, widePort]] as Array<[string, number]>) : []),
      ];
      for (const [host, p] of targets) {
        // The control: from the host each one answers.
        await new Promise<void>((resolve, reject) => {
          const c: Socket = connect(p, host, () => (c.end(), resolve()));
          c.once('error', reject);
        });
        const r = await probe<string>(kernel, connectProbe(host, p));
        expect({ host, port: p, r }).not.toEqual({ host, port: p, r: 'connected' });
      }
    } finally {
      server.close();
      wide.close();
    }
  });

  it('forwards a route to its target, and closes its connections on demand and at the end', async () => {
    const sockets = new Set<Socket>();
    const echo = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.pipe(s);
    });
    const port = await listen(echo, '127.0.0.1');
    try {
      const plan = service.planRoutes([{ target: 'echo', host: '127.0.0.1', port }]);
      const to = plan.route({ host: '127.0.0.1', port });
      expect(to.host).not.toBe('127.0.0.1');
      const relays = await other.forward(plan);
      expect((await run(other, pythonAdapter.startRelays(relays))).result.status).toBe('ok');
      const said = await probe<string>(
        other,
        [
          'import socket, json',
          `__s = socket.create_connection((${JSON.stringify(to.host)}, ${to.port}), timeout=5)`,
          '__s.sendall(b"ping")',
          'print(json.dumps(__s.recv(4).decode()))',
        ].join('\n'),
      );
      expect(said).toBe('ping');
      await waitUntil(() => sockets.size === 1, 5000, 'the forwarded connection at the target');
      // Revoking what the connection was opened with closes it at the target too.
      expect(other.closeConnections(0)).toBe(1);
      await waitUntil(() => sockets.size === 0, 5000, 'the target to see the connection closed');
      const after = await probe<string>(
        other,
        'import json\ntry:\n    r = __s.recv(4)\n    r = "eof" if r == b"" else "data"\nexcept OSError as e:\n    r = type(e).__name__\nprint(json.dumps(r))',
      );
      expect(after).not.toBe('data');
    } finally {
      echo.close();
    }
  });

  it('ends a memory bomb as kernel_died with memory_limit, and leaves other kernels alone', async () => {
    const bomb = await service.acquire();
    const { result } = await within(
      run(bomb, 'x = bytearray(10**10)'),
      45_000,
      'the memory bomb to be stopped',
    );
    expect(result).toMatchObject({ status: 'kernel_died', limit: 'memory_limit' });
    expect((await run(other, 'print(1 + 1)')).out).toBe('2\n');
  });

  it('bounds a fork bomb by the process limit', async () => {
    const forker = await service.acquire();
    const { result, out } = await run(
      forker,
      [
        'import os, time',
        'n = 0',
        'try:',
        '    while n < 1000:',
        '        if os.fork() == 0:',
        '            time.sleep(60)',
        '            os._exit(0)',
        '        n += 1',
        'except OSError as e:',
        '    print("stopped after", n)',
      ].join('\n'),
    );
    expect(result.status).toBe('ok');
    const n = Number(/stopped after (\d+)/.exec(out)?.[1] ?? 'NaN');
    expect(n).toBeLessThan(48);
    await forker.shutdown();
    expect((await run(other, 'print(2 + 2)')).out).toBe('4\n');
  });

  it('stops a cell that uses more CPU time than its limit as cpu_time_limit', async () => {
    const spinner = await service.acquire();
    const { result } = await run(spinner, 'while True:\n    pass');
    expect(result).toMatchObject({ status: 'kernel_died', limit: 'cpu_time_limit' });
  });

  it('gives the kernel a private, size-bounded /tmp and home', async () => {
    const r = await probe<{ tmp: string; home: string }>(
      kernel,
      [
        'import os, json',
        'def fill(d):',
        '    try:',
        '        with open(os.path.join(d, "big"), "wb") as f:',
        '            for _ in range(2048):',
        '                f.write(b"x" * 1024 * 1024)',
        '        return "unbounded"',
        '    except OSError as e:',
        '        return type(e).__name__',
        '    finally:',
        '        try: os.remove(os.path.join(d, "big"))',
        '        except OSError: pass',
        'print(json.dumps({"tmp": fill("/tmp"), "home": fill(os.path.expanduser("~"))}))',
      ].join('\n'),
    );
    expect(r.tmp).not.toBe('unbounded');
    expect(r.home).not.toBe('unbounded');
  });
});

const ROOT = join(__dirname, '..', '..');
const GATEWAY_USER = 'rungate-test-gw';

/** uid and gid of a host user, created (as a system user) when missing. */
function ensureUser(name: string): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name]);
  }
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }));
  return { uid: id('-u'), gid: id('-g') };
}

// User namespaces let an ordinary user sandbox kernels too, mapped to that user.
describe.runIf(process.getuid?.() === 0)(
  'kernel sandbox with the gateway as an ordinary user',
  () => {
    it('hides the gateway and its files, and bounds memory with rlimits (no cgroup to create)', async () => {
      const user = ensureUser(GATEWAY_USER);
      const home = await mkdtemp(join(tmpdir(), 'rungate-user-gw-'));
      const dataDir = join(home, 'data');
      await mkdir(dataDir);
      await chown(home, user.uid, user.gid);
      await chown(dataDir, user.uid, user.gid);
      const server = createServer((s) => s.end());
      const port = await listen(server, '127.0.0.1');
      try {
        const out = await new Promise<string>((resolve, reject) => {
          execFile(
            'setpriv',
            [
              `--reuid=${user.uid}`,
              `--regid=${user.gid}`,
              '--clear-groups',
              '--',
              process.execPath,
              '-r',
              '@swc-node/register',
              'test/support/sandbox-probe.ts',
              dataDir,
            ],
            {
              cwd: ROOT,
              env: {
                PATH: process.env.PATH ?? '/usr/bin:/bin',
                HOME: home,
                PROBE_PORT: String(port),
              },
              timeout: 60_000,
            },
            (err, stdout, stderr) =>
              err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
          );
        });
        const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as {
          hostUid: number;
          seen: Record<string, unknown> & { uid: number; uid_map: string; pids: string[] };
          bomb: unknown;
        };
        expect(r.hostUid).toBe(user.uid);
        expect(r.seen.uid).toBe(user.uid);
        expect(r.seen.uid_map.trim().split(/\s+/).map(Number)).toEqual([user.uid, user.uid, 1]);
        expect(r.seen.pids.map(Number).every((p) => p <= 10)).toBe(true);
        expect(r.seen).toMatchObject({
          gateway: false,
          data_dir: false,
          secret: false,
          gateway_port: false,
        });
        // Without a cgroup the limit is RLIMIT_AS: the allocation fails, the kernel lives.
        expect(r.bomb).toBe('MemoryError');
      } finally {
        server.close();
        await rm(home, { recursive: true, force: true });
      }
    });
  },
);
