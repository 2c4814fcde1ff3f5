/**
 * The kernels module against real ipykernel processes (the kernelspec from
 * .cache/kernelspecs made by scripts/bootstrap.sh).
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Publisher, Router } from 'zeromq';
import { ErrorCode } from '../../src/common/errors';
import type { AppConfig } from '../../src/config/config.types';
import { KERNEL_IP, freePorts, type ConnectionInfo } from '../../src/kernels/connection';
import { KernelClient } from '../../src/kernels/kernel-client';
import { KernelRegistry } from '../../src/kernels/kernel-registry';
import { KernelsService } from '../../src/kernels/kernels.service';
import type { ExecuteResult, IopubMessage, Kernel } from '../../src/kernels/kernels.types';
import {
  createMessage,
  isErrorMsg,
  isStreamMsg,
  type JsonObject,
  type JupyterMessage,
} from '../../src/kernels/messages';
import { readProcStat } from '../../src/kernels/process-info';
import { MessageSigner, WireCodec } from '../../src/kernels/wire';
import { within } from '../support/deadline';
import { kernelTestConfig, processExists, waitUntil } from '../support/kernels';

const GATEWAY_SECRETS = {
  DATABASE_URL: 'postgres://rungate:hunter2@db.internal/rungate',
  OIDC_CLIENT_SECRET: 'oidc-secret-value',
  KAFKA_BROKERS: 'kafka.internal:9092',
};

/** Runs code and collects its stdout text and every iopub message, with arrival times. */
async function run(
  kernel: Kernel,
  code: string,
): Promise<{ result: ExecuteResult; stdout: string; iopub: IopubMessage[] }> {
  const iopub: IopubMessage[] = [];
  const result = await kernel.execute(code, { onIopub: (m) => iopub.push(m) });
  const stdout = iopub
    .filter(isStreamMsg)
    .filter((m) => m.content.name === 'stdout')
    .map((m) => m.content.text)
    .join('');
  return { result, stdout, iopub };
}

describe(KernelsService.name, () => {
  let config: AppConfig;
  let cleanup: () => Promise<void>;
  let service: KernelsService;
  let kernel: Kernel;

  beforeAll(async () => {
    ({ config, cleanup } = await kernelTestConfig());
    service = new KernelsService(config, { ...process.env, ...GATEWAY_SECRETS });
    await service.onModuleInit();
    kernel = await service.acquire();
  });

  afterAll(async () => {
    await service?.onApplicationShutdown();
    await cleanup?.();
  });

  describe('acquire', () => {
    it('completes the kernel_info handshake and leaves the kernel idle', () => {
      expect(kernel.status).toBe('idle');
      expect(kernel.kernelName).toBe('python3');
      expect(processExists(kernel.pid)).toBe(true);
    });

    it('refuses an unknown kernelspec with NotFound', async () => {
      await expect(service.acquire('no-such-kernel')).rejects.toMatchObject({
        code: ErrorCode.NotFound,
      });
    });

    it('retries with new ports when the kernel lost a port race', async () => {
      const specDir = await mkdtemp(join(tmpdir(), 'rungate-racespec-'));
      const python = join(config.rootDir, '.cache/venv/bin/python');
      // First launch fails the way ipykernel does when a port was taken; the second runs the kernel.
      const script = [
        'if [ ! -e "$1/raced" ]; then touch "$1/raced"; echo "zmq.error.ZMQError: Address already in use" >&2; exit 1; fi',
        `exec ${python} -m ipykernel_launcher -f "$0"`,
      ].join('\n');
      await mkdir(join(specDir, 'racy'));
      await writeFile(
        join(specDir, 'racy', 'kernel.json'),
        JSON.stringify({
          argv: ['/bin/sh', '-c', script, '{connection_file}', '{resource_dir}'],
          display_name: 'Racy',
          language: 'python',
        }),
      );
      // Ports exist only on tcp (ipc sockets live in the kernel's own directory), and
      // tcp only outside the sandbox (a sandboxed kernel's loopback is its own).
      const raceConfig = await kernelTestConfig({
        RUNGATE_KERNELSPEC_DIRS: specDir,
        RUNGATE_KERNEL_TRANSPORT: 'tcp',
        RUNGATE_KERNEL_PROVISIONER: 'process',
      });
      const raceService = new KernelsService(raceConfig.config);
      try {
        const k = await raceService.acquire('racy');
        expect(k.log()).toContain('Address already in use');
        expect((await run(k, 'print(1 + 1)')).stdout).toBe('2\n');
      } finally {
        await raceService.onApplicationShutdown();
        await raceConfig.cleanup();
        await rm(specDir, { recursive: true, force: true });
      }
    });

    it('hands out a pre-started kernel from the warm pool and refills it', async () => {
      const pooled = await kernelTestConfig({ RUNGATE_KERNEL_POOL_SIZE: '1' });
      const pooledService = new KernelsService(pooled.config);
      try {
        await pooledService.onModuleInit();
        await waitUntil(
          () => pooledService.poolStats().python3?.ready === 1,
          30_000,
          'a ready pooled kernel',
        );
        const before = Date.now();
        const k = await pooledService.acquire();
        // The pooled kernel itself, started before it was asked for (how fast is bench/'s question).
        expect(k.startedAt.getTime()).toBeLessThan(before);
        expect(k.status).toBe('idle');
        expect(pooledService.poolStats().python3).toEqual({ ready: 0, starting: 1 });
        expect((await run(k, 'print(6 * 7)')).stdout).toBe('42\n');
      } finally {
        await pooledService.onApplicationShutdown();
        await pooled.cleanup();
      }
    });
  });

  describe('execute', () => {
    it('runs code in the kernel process, not the gateway', async () => {
      const { result, stdout } = await run(
        kernel,
        "import os\nprint(os.getpid(), os.readlink('/proc/self/ns/pid'))",
      );
      expect(result).toMatchObject({ status: 'ok' });
      // In the sandbox's own PID namespace: another process, in another namespace.
      const [pid, ns] = stdout.trim().split(' ');
      expect(Number(pid)).not.toBe(process.pid);
      expect(ns).not.toBe(readlinkSync('/proc/self/ns/pid'));
      expect(processExists(kernel.pid)).toBe(true);
    });

    it('streams output while the cell runs, in order', async () => {
      const seen: string[] = [];
      // The cell waits for the test to react to its first line: only an output that
      // reaches the test while the cell runs lets it go on (by an interrupt) before 60 s.
      const result = await within(
        kernel.execute(
          "import time\nprint('first', flush=True)\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('second')",
          {
            onIopub: (m) => {
              if (!isStreamMsg(m)) return;
              seen.push(m.content.text);
              if (m.content.text === 'first\n') void kernel.interrupt();
            },
          },
        ),
        30_000,
        'the cell to go on after its first line was seen',
      );
      expect(result.status).toBe('ok');
      expect(seen.join('')).toBe('first\nsecond\n');
      expect(seen[0]).toBe('first\n');
    });

    it('reports an exception with ename, evalue and traceback', async () => {
      const { result, iopub } = await run(kernel, '1 / 0');
      expect(result).toMatchObject({
        status: 'error',
        ename: 'ZeroDivisionError',
        evalue: 'division by zero',
      });
      expect(result.status === 'error' && result.traceback.length).toBeGreaterThan(0);
      expect(iopub.filter(isErrorMsg).map((m) => m.content.ename)).toEqual(['ZeroDivisionError']);
    });

    it("keeps the gateway's secrets out of the kernel's environment", async () => {
      const { stdout } = await run(
        kernel,
        "import os, json\nprint(json.dumps({k: os.environ.get(k) for k in ['DATABASE_URL', 'OIDC_CLIENT_SECRET', 'KAFKA_BROKERS', 'JPY_PARENT_PID', 'PATH']}))",
      );
      const env = JSON.parse(stdout) as Record<string, string | null>;
      expect(env.DATABASE_URL).toBeNull();
      expect(env.OIDC_CLIENT_SECRET).toBeNull();
      expect(env.KAFKA_BROKERS).toBeNull();
      // The sandbox ties the kernel to the gateway (bwrap --die-with-parent) instead.
      expect(env.JPY_PARENT_PID).toBeNull();
      expect(env.PATH).toBe(process.env.PATH);
    });

    it("keeps what the kernel process writes to its own stderr in the kernel's log", async () => {
      await run(
        kernel,
        "import sys\nsys.__stderr__.write('straight-to-fd-2\\n')\nsys.__stderr__.flush()",
      );
      await waitUntil(() => kernel.log().includes('straight-to-fd-2'), 5000, 'the line in the log');
    });

    it('resolves kernel_died when the kernel exits mid-execution', async () => {
      const doomed = await service.acquire();
      const died: string[] = [];
      doomed.onDied((reason) => died.push(reason));
      const result = await within(
        doomed.execute('import os, time\ntime.sleep(0.2)\nos._exit(1)'),
        30_000,
        'the execution to end with the kernel',
      );
      expect(result.status).toBe('kernel_died');
      // Seen as the process's exit, not as a heartbeat that stopped later.
      expect(died[0]).not.toMatch(/heartbeat/);
      expect(doomed.status).toBe('dead');
      expect(died).toHaveLength(1);
      expect(await doomed.execute('1')).toMatchObject({ status: 'kernel_died' });
    });
  });

  describe('interrupt', () => {
    it('interrupts time.sleep(60) with KeyboardInterrupt', async () => {
      let sleeping = false;
      const pending = kernel.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)", {
        onIopub: (m) => {
          if (isStreamMsg(m)) sleeping = true;
        },
      });
      // Wait for the cell's own output so the signal lands in user code, not in the kernel's set-up.
      await waitUntil(() => sleeping, 10_000, 'the cell to start');
      await kernel.interrupt();
      // Well before the sleep could end by itself.
      const result = await within(pending, 30_000, 'the interrupted cell to end');
      expect(result).toMatchObject({ status: 'error', ename: 'KeyboardInterrupt' });
      expect((await run(kernel, "print('still alive')")).stdout).toBe('still alive\n');
    });
  });

  describe('interrupt with interrupt_mode message', () => {
    it('sends interrupt_request on control and the cell stops with KeyboardInterrupt', async () => {
      const specDir = await mkdtemp(join(tmpdir(), 'rungate-msgspec-'));
      // The sandboxed kernel's user reads the kernelspec; mkdtemp makes the folder private.
      await chmod(specDir, 0o755);
      const original = JSON.parse(
        await readFile(join(config.kernels.specDirs[0], 'python3', 'kernel.json'), 'utf8'),
      ) as object;
      await mkdir(join(specDir, 'python3-msg'));
      await writeFile(
        join(specDir, 'python3-msg', 'kernel.json'),
        JSON.stringify({ ...original, interrupt_mode: 'message' }),
      );
      const msgConfig = await kernelTestConfig({ RUNGATE_KERNELSPEC_DIRS: specDir });
      const msgService = new KernelsService(msgConfig.config);
      try {
        const k = await msgService.acquire('python3-msg');
        let sleeping = false;
        const pending = k.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)", {
          onIopub: (m) => {
            if (isStreamMsg(m)) sleeping = true;
          },
        });
        await waitUntil(() => sleeping, 10_000, 'the cell to start');
        await k.interrupt();
        expect(await within(pending, 30_000, 'the interrupted cell to end')).toMatchObject({
          status: 'error',
          ename: 'KeyboardInterrupt',
        });
      } finally {
        await msgService.onApplicationShutdown();
        await msgConfig.cleanup();
        await rm(specDir, { recursive: true, force: true });
      }
    });
  });

  describe('heartbeat', () => {
    it('declares a hung kernel dead by its heartbeat and kills it', async () => {
      const hung = await service.acquire();
      const pid = hung.pid;
      const died = new Promise<string>((resolve) => hung.onDied(resolve));
      // The kernel stops itself: heartbeat thread and all (its pid is the sandbox's, not ours to signal).
      void hung.execute('import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)');
      const reason = await within(died, 30_000, 'the hung kernel to be declared dead');
      // The heartbeat noticed: the stopped process had not exited.
      expect(reason).toMatch(/heartbeat/);
      await waitUntil(() => !processExists(pid), 5000, 'the hung kernel to be killed');
    });
  });

  describe('restart', () => {
    it('replaces the process and keeps the kernel usable', async () => {
      const k = await service.acquire();
      const oldPid = k.pid;
      await run(k, 'x = 1');
      await k.restart();
      expect(k.pid).not.toBe(oldPid);
      expect(k.status).toBe('idle');
      await waitUntil(() => !processExists(oldPid), 5000, 'the old process to end');
      const { result } = await run(k, 'x');
      expect(result).toMatchObject({ status: 'error', ename: 'NameError' });
      await k.shutdown();
    });
  });

  describe('shutdown', () => {
    it('leaves no process, registry record or connection file behind', async () => {
      const k = await service.acquire();
      const pid = k.pid;
      const registry = new KernelRegistry(join(config.dataDir, 'kernels'));
      const record = (await registry.list()).find((r) => r.kernelId === k.id);
      expect(record?.pid).toBe(pid);
      expect(existsSync(join(record?.runtimeDir ?? '/nonexistent', 'connection.json'))).toBe(true);
      await k.shutdown();
      expect(k.status).toBe('dead');
      expect(processExists(pid)).toBe(false);
      expect((await registry.list()).map((r) => r.kernelId)).not.toContain(k.id);
      expect(existsSync(record?.runtimeDir ?? '/nonexistent')).toBe(false);
      expect(await k.execute('1')).toMatchObject({ status: 'kernel_died' });
    });
  });
});

describe(KernelClient.name, () => {
  it('drops and counts a message with a bad signature, and delivers a well-signed one', async () => {
    const [shell, iopub, stdin, control, hb] = await freePorts(5);
    const info: ConnectionInfo = {
      transport: 'tcp',
      ip: KERNEL_IP,
      shell_port: shell,
      iopub_port: iopub,
      stdin_port: stdin,
      control_port: control,
      hb_port: hb,
      key: 'the-real-key',
      signature_scheme: 'hmac-sha256',
      kernel_name: 'fake',
    };
    // A stand-in kernel: just the shell ROUTER we need to answer on.
    const router = new Router({ linger: 0 });
    const publisher = new Publisher({ linger: 0 });
    await router.bind(`tcp://${KERNEL_IP}:${shell}`);
    await publisher.bind(`tcp://${KERNEL_IP}:${iopub}`);
    const received: Array<JupyterMessage<string, JsonObject>> = [];
    const client = new KernelClient({
      info,
      session: 'client-session',
      onMessage: (m) => received.push(m),
    });
    try {
      const identity = { session: 'client-session', username: 'test' };
      await client.send(createMessage('kernel_info_request', {}, identity));
      const [peer, ...request] = await router.receive();
      const requestMsg = new WireCodec(new MessageSigner(info.key, info.signature_scheme)).decode(
        request,
        'shell',
      ).message;

      const reply = (key: string, marker: string): Buffer[] => {
        const codec = new WireCodec(new MessageSigner(key, 'hmac-sha256'));
        return [
          peer,
          ...codec.encode({
            channel: 'shell',
            header: { ...requestMsg.header, msg_id: marker, msg_type: 'kernel_info_reply' },
            parent_header: requestMsg.header,
            metadata: {},
            content: { status: 'ok', marker },
            buffers: [],
          }),
        ];
      };
      await router.send(reply('a-forged-key', 'forged'));
      await router.send(reply(info.key, 'genuine'));
      await waitUntil(() => received.length > 0, 5000, 'the genuine reply');
      expect(received.map((m) => m.content.marker)).toEqual(['genuine']);
      expect(client.stats().badSignatures).toBe(1);
    } finally {
      client.close();
      router.close();
      publisher.close();
    }
  });
});

describe(KernelRegistry.name, () => {
  describe('sweep', () => {
    it('kills a recorded process whose gateway is gone and spares one whose start time differs', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'rungate-registry-test-'));
      const sleeper = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      const stranger = spawn('sleep', ['60'], { detached: true, stdio: 'ignore' });
      try {
        const gone = spawn('true');
        await new Promise((r) => gone.once('exit', r));
        const registry = new KernelRegistry(dir);
        const base = {
          kernelName: 'python3',
          ownerPid: gone.pid as number,
          ownerStartTime: '1',
          recordedAt: new Date().toISOString(),
        };
        await waitUntil(
          () => readProcStat(sleeper.pid as number) !== undefined,
          2000,
          'the sleeper',
        );
        await registry.record({
          ...base,
          kernelId: 'a1',
          pid: sleeper.pid as number,
          startTime: readProcStat(sleeper.pid as number)?.startTime as string,
          runtimeDir: join(dir, 'not-ours'),
        });
        await registry.record({
          ...base,
          kernelId: 'b2',
          pid: stranger.pid as number,
          startTime: 'not-its-start-time',
          runtimeDir: dir,
        });
        const result = await registry.sweep();
        expect(result.killed).toEqual([sleeper.pid]);
        expect(result.removed).toBe(2);
        await waitUntil(
          () => sleeper.exitCode !== null || sleeper.signalCode !== null,
          2000,
          'the sleeper to die',
        );
        expect(processExists(stranger.pid as number)).toBe(true);
        expect(await registry.list()).toEqual([]);
      } finally {
        sleeper.kill('SIGKILL');
        stranger.kill('SIGKILL');
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('a gateway killed with SIGKILL', () => {
  it('leaves no kernel behind', async () => {
    const { config, cleanup } = await kernelTestConfig();
    const dir = await mkdtemp(join(tmpdir(), 'rungate-orphan-test-'));
    const script = join(dir, 'gateway.ts');
    const src = resolve(__dirname, '../../src');
    await writeFile(
      script,
      [
        `import { loadConfig } from '${src}/config/load-config';`,
        `import { KernelsService } from '${src}/kernels/kernels.service';`,
        `async function main(): Promise<void> {`,
        `  const service = new KernelsService(loadConfig(${JSON.stringify({ ...minimalEnv(), RUNGATE_DATA_DIR: config.dataDir })}));`,
        `  const kernel = await service.acquire();`,
        `  console.log('KERNEL_PID=' + kernel.pid);`,
        `  setInterval(() => undefined, 1000);`,
        `}`,
        `void main();`,
      ].join('\n'),
    );
    const child = spawn(process.execPath, ['-r', '@swc-node/register', script], {
      cwd: resolve(__dirname, '../..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const kernelPid = await new Promise<number>((resolvePid, reject) => {
        const timer = setTimeout(
          () => reject(new Error('the child gateway did not start a kernel')),
          30_000,
        );
        lines.on('line', (line) => {
          const match = /^KERNEL_PID=(\d+)$/.exec(line);
          if (match) {
            clearTimeout(timer);
            resolvePid(Number(match[1]));
          }
        });
      });
      expect(processExists(kernelPid)).toBe(true);
      child.kill('SIGKILL');
      // ipykernel's parent poller (JPY_PARENT_PID) notices within about a second.
      await waitUntil(() => !processExists(kernelPid), 10_000, 'the orphaned kernel to exit');

      // The next start-up forgets the record the killed gateway left.
      const next = new KernelsService(config);
      await next.onModuleInit();
      expect(await new KernelRegistry(join(config.dataDir, 'kernels')).list()).toEqual([]);
      await next.onApplicationShutdown();
    } finally {
      child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
      await cleanup();
    }
  });
});

function minimalEnv(): Record<string, string> {
  return {
    NODE_ENV: 'test',
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    RUNGATE_KERNEL_POOL_SIZE: '0',
  };
}
