/**
 * The peers `npm run bench` compares rungate with, installed by bench/setup.sh into
 * .cache/bench-venv: Jupyter Kernel Gateway (its REST API and websocket channels) and
 * papermill. Both start rungate's own kernel: the only kernelspec they see is
 * .cache/kernelspecs/python3 (JUPYTER_PATH=.cache/bench-jupyter, linked by setup.sh),
 * whose interpreter is .cache/venv's, and they run kernels as plain child processes,
 * as rungate's `process` provisioner does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../test/support/gateway';
import { freePort, waitFor } from '../test/support/net';
import { WebSocketClient } from './ws';

const VENV = join(ROOT, '.cache', 'bench-venv');
export const KERNEL_PYTHON = join(ROOT, '.cache', 'venv', 'bin', 'python');

/** The environment the peers run in (and their kernels inherit). */
function peerEnv(jupyterDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    JUPYTER_PATH: join(ROOT, '.cache', 'bench-jupyter'),
    // Nothing from the user's own Jupyter set-up: config, data (kernelspecs), runtime.
    JUPYTER_CONFIG_DIR: join(jupyterDir, 'config'),
    JUPYTER_DATA_DIR: join(jupyterDir, 'data'),
    JUPYTER_RUNTIME_DIR: join(jupyterDir, 'runtime'),
    JUPYTER_PLATFORM_DIRS: '1',
    // rungate's kernels import `rungate` from here (RUNGATE_KERNEL_PYTHONPATH's default).
    PYTHONPATH: join(ROOT, 'kernels', 'python'),
    ...extra,
  };
}

// ---- Jupyter Kernel Gateway -----------------------------------------------------------

export interface KernelGateway {
  readonly url: string;
  readonly pid: number;
  /** POST /api/kernels, then the websocket channels, until the kernel answers kernel_info. */
  startKernel(): Promise<JupyterWsKernel>;
  stop(): Promise<void>;
}

export async function startKernelGateway(): Promise<KernelGateway> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rungate-bench-jkg-'));
  const child: ChildProcess = spawn(
    join(VENV, 'bin', 'jupyter-kernelgateway'),
    [
      '--KernelGatewayApp.ip=127.0.0.1',
      `--KernelGatewayApp.port=${port}`,
      '--KernelGatewayApp.port_retries=0',
      '--log-level=WARN',
    ],
    { env: peerEnv(dir), cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8192)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-8192)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Jupyter Kernel Gateway to listen',
      async () => {
        if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
        return (await fetch(`${url}/api`)).status === 200;
      },
      60_000,
      100,
    );
    // The kernel it starts must be rungate's: same interpreter, same ipykernel.
    const specs = (await (await fetch(`${url}/api/kernelspecs`)).json()) as {
      kernelspecs: Record<string, { spec: { argv: string[] } }>;
    };
    const argv = specs.kernelspecs.python3?.spec.argv ?? [];
    if (argv[0] !== KERNEL_PYTHON)
      throw new Error(`its python3 kernelspec is not rungate's: ${JSON.stringify(argv)}`);
  } catch (err) {
    await stop();
    throw new Error(`Jupyter Kernel Gateway: ${(err as Error).message}\n${out}`);
  }
  return {
    url,
    pid: child.pid ?? -1,
    stop,
    async startKernel() {
      const r = await fetch(`${url}/api/kernels`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'python3' }),
      });
      const body = (await r.json()) as { id?: string };
      if (r.status !== 201 || !body.id)
        throw new Error(`POST /api/kernels: ${r.status} ${JSON.stringify(body)}`);
      const id = body.id;
      const remove = () => fetch(`${url}/api/kernels/${id}`, { method: 'DELETE' }).then(() => {});
      try {
        const ws = await WebSocketClient.connect(
          `ws://127.0.0.1:${port}/api/kernels/${id}/channels`,
        );
        const kernel = new JupyterWsKernel(ws, id, remove);
        await kernel.request('kernel_info_request', {}, 30_000);
        return kernel;
      } catch (err) {
        await remove().catch(() => undefined);
        throw err;
      }
    },
  };
}

interface Waiting {
  reply?: { content: Record<string, unknown> };
  idle: boolean;
  resolve: (content: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/**
 * A kernel behind Kernel Gateway's websocket, in the Jupyter protocol's JSON form (no
 * subprotocol): a request is done when its reply and the kernel's `idle` status for
 * it have both arrived, as rungate's own client waits.
 */
export class JupyterWsKernel {
  private readonly session = randomUUID();
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly ws: WebSocketClient,
    readonly id: string,
    private readonly remove: () => Promise<void>,
  ) {
    ws.onMessage = (text) => this.dispatch(text);
    ws.onClose((err) => {
      for (const w of this.waiting.values()) w.reject(err ?? new Error('the websocket closed'));
      this.waiting.clear();
    });
  }

  async execute(code: string): Promise<void> {
    const reply = await this.request('execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
    if (reply.status !== 'ok') throw new Error(`execute via JKG: ${JSON.stringify(reply)}`);
  }

  request(
    msgType: string,
    content: Record<string, unknown>,
    timeoutMs = 60_000,
  ): Promise<Record<string, unknown>> {
    const msgId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(msgId);
        reject(new Error(`no ${msgType} reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(msgId, {
        idle: false,
        resolve: (c) => {
          clearTimeout(timer);
          resolve(c);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.ws.send(
        JSON.stringify({
          header: {
            msg_id: msgId,
            msg_type: msgType,
            username: 'bench',
            session: this.session,
            date: new Date().toISOString(),
            version: '5.3',
          },
          parent_header: {},
          metadata: {},
          content,
          channel: 'shell',
          buffers: [],
        }),
      );
    });
  }

  async shutdown(): Promise<void> {
    this.ws.close();
    await this.remove();
  }

  private dispatch(text: string): void {
    let msg: {
      channel?: string;
      header?: { msg_type?: string };
      parent_header?: { msg_id?: string };
      content?: Record<string, unknown>;
    };
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const parent = msg.parent_header?.msg_id;
    const w = parent === undefined ? undefined : this.waiting.get(parent);
    if (!w || parent === undefined) return;
    const type = msg.header?.msg_type ?? '';
    if (msg.channel === 'shell' && type.endsWith('_reply'))
      w.reply = { content: msg.content ?? {} };
    else if (
      msg.channel === 'iopub' &&
      type === 'status' &&
      msg.content?.execution_state === 'idle'
    )
      w.idle = true;
    if (w.reply && w.idle) {
      this.waiting.delete(parent);
      w.resolve(w.reply.content);
    }
  }
}

// ---- papermill ---------------------------------------------------------------------------

/**
 * A copy of a runbook that papermill can run as rungate's `run` does: the cells before
 * the first mutating one (papermill runs every cell; rungate's `run` stops there).
 */
export function readOnlyCopy(notebookPath: string, outPath: string): number {
  const nb = JSON.parse(readFileSync(notebookPath, 'utf8')) as {
    cells: Array<{ cell_type: string; metadata?: { tags?: string[] } }>;
  };
  const stop = nb.cells.findIndex((c) => (c.metadata?.tags ?? []).includes('mutating'));
  if (stop >= 0) nb.cells = nb.cells.slice(0, stop);
  writeFileSync(outPath, JSON.stringify(nb, null, 1));
  return nb.cells.filter((c) => c.cell_type === 'code').length;
}

export interface PapermillRun {
  /** From spawning papermill to its exit. */
  wall: number;
  /** The sum of papermill's own per-cell durations (its `metadata.papermill.duration`). */
  cells: number;
}

/** `papermill input output -k python3`, in the peers' environment plus `env`. */
export async function runPapermill(
  input: string,
  env: Record<string, string>,
): Promise<PapermillRun> {
  const dir = mkdtempSync(join(tmpdir(), 'rungate-bench-papermill-'));
  const output = join(dir, 'out.ipynb');
  try {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        join(VENV, 'bin', 'papermill'),
        [input, output, '-k', 'python3', '--log-level', 'ERROR', '--no-progress-bar'],
        { env: peerEnv(dir, env), cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`papermill exited ${code ?? signal}\n${stderr}`)),
      );
    });
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const nb = JSON.parse(readFileSync(output, 'utf8')) as {
      cells: Array<{ cell_type: string; metadata?: { papermill?: { duration?: number } } }>;
    };
    const cells = nb.cells
      .filter((c) => c.cell_type === 'code')
      .reduce((sum, c) => sum + (c.metadata?.papermill?.duration ?? 0) * 1000, 0);
    return { wall, cells };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
