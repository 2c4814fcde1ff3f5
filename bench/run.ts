/**
 * `npm run bench`: what the gateway and the kernel sandbox cost, against baselines
 * measured in the same run, and against the peers (Jupyter Kernel Gateway, papermill).
 *
 * Set-up: scripts/bootstrap.sh and bench/setup.sh (system packages, the peers in
 * .cache/bench-venv). The run starts its own PostgreSQL with durable settings
 * (bench/postgres.ts, pg_stat_statements loaded but off until the statement count),
 * its own demo-shop target with known tokens (declared to the gateways in a targets
 * file, so papermill can be given the same URL and read-only token a kernel gets),
 * and the gateways it measures (`node dist/main.js`).
 *
 * 1. Launch: `/usr/bin/true` through each kernel provisioner (`process`, the baseline,
 *    and `sandbox`, the default), and the sandbox's launch chain taken apart.
 * 2. Kernel start (launch to the kernel_info handshake) in-process, with no pool.
 * 3. Cell `1+1`, samples alternating between: straight over ZeroMQ by our own client
 *    to a plain and to a sandboxed kernel (the baselines); through the HTTP API of
 *    gateways on PostgreSQL with either provisioner and on the embedded database
 *    (sandbox); and through Jupyter Kernel Gateway's websocket (the peer, whose
 *    kernels are plain processes). After each sample the run pauses BENCH_SETTLE_MS
 *    (50), as a person between two cells does: work a server defers past its answer
 *    (the gateway's group commits and relay passes) then lands in no other variant's
 *    sample; it is still counted in each server's CPU per cell.
 * 4. Session start with a warm pool (size 2), without and with a target.
 * 5. A whole runbook (shop/order-lookup, read-only): rungate's session start, `POST
 *    /v1/sessions/{id}/run` and session end, against papermill on the same notebook
 *    and kernel, end to end.
 * 6. SQL statements per cell, counted by pg_stat_statements: in total, and split
 *    into those before the kernel runs the code and those after; with WAL flushes
 *    (pg_stat_wal) and CPU per cell of the gateway, PostgreSQL and the client.
 *    Where each gateway's CPU goes: a CPU profile through its inspector (the
 *    PostgreSQL and the embedded gateway), self time by rungate module and npm package.
 * 7. Cold session start (pool size 0), beside Kernel Gateway's kernel start.
 * 8. Load: BENCH_LOAD_SESSIONS sessions (50) each running `1+1` back to back for
 *    BENCH_LOAD_SECONDS (60), against as many sandboxed kernels driven directly;
 *    errors, throughput, the gateway's RSS, and the CPU each party used.
 *
 * Sizes: BENCH_ITERATIONS cells per variant (300), BENCH_SESSION_STARTS starts of each
 * kind (10), BENCH_LAUNCHES launches of `true` (20), BENCH_RUNBOOK_RUNS runs of the
 * sample runbook each way (5), BENCH_SQL_CELLS cells counted (30), BENCH_LOAD_SESSIONS
 * (50) and BENCH_LOAD_SECONDS (60).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../src/config/load-config';
import { DemoShop } from '../src/demo-target/demo-shop';
import { DemoShopServer } from '../src/demo-target/demo-shop.server';
import { removeRuntimeDir, type KernelRuntimeDir } from '../src/kernels/connection';
import { describeExit, KernelProcess } from '../src/kernels/kernel-process';
import type { Kernel } from '../src/kernels/kernels.types';
import { KernelsService } from '../src/kernels/kernels.service';
import type { KernelSpecInfo } from '../src/kernels/kernelspecs';
import type { KernelProvisioner } from '../src/kernels/provisioner';
import { RingLog } from '../src/kernels/ring-log';
import { detectCgroups, KernelCgroup } from '../src/kernels/sandbox/cgroups';
import { startGateway, type Gateway } from '../test/support/gateway';
import { freePort } from '../test/support/net';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { createDatabase } from '../test/support/postgres';
import { loopFor, rssMiB, rssSampler, type LoopResult } from './load';
import {
  KERNEL_PYTHON,
  readOnlyCopy,
  runPapermill,
  startKernelGateway,
  type JupyterWsKernel,
  type KernelGateway,
} from './peers';
import { startDurablePostgres, type BenchPostgres } from './postgres';
import { profileWhile, summarizeProfile, type ProfileSummary } from './profile';
import {
  combine,
  difference,
  oneLine,
  StatementCounter,
  total,
  totalMs,
  type StatementCounts,
  type WalCount,
} from './sql';
import { benchCpu, cpuMeter, descendantsCpu, machineBusy, processCpu, serverCpu } from './cpu';
import { alternate, inBatches, ms, ratio, sleep, summary, timeIt } from './stats';

const N = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 30;
/** Pause after each `1+1` sample, so that one server's deferred work lands in no other's sample. */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 50);
const STARTS = Number(process.env.BENCH_SESSION_STARTS ?? 10);
const LAUNCHES = Number(process.env.BENCH_LAUNCHES ?? 20);
const RUNBOOK_RUNS = Number(process.env.BENCH_RUNBOOK_RUNS ?? 5);
const SQL_CELLS = Number(process.env.BENCH_SQL_CELLS ?? 30);
const SQL_SPLIT_CELLS = 5;
const LOAD_SESSIONS = Number(process.env.BENCH_LOAD_SESSIONS ?? 50);
const LOAD_SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 60);
/** Kernels and sessions started at once when setting up the load. */
const START_CONCURRENCY = 4;
const POOL_SIZE = 2;
const TRUE = '/usr/bin/true';
const SAMPLE_RUNBOOK = 'shop/order-lookup';

const PROVISIONERS = ['process', 'sandbox'] as const;
type Provisioner = (typeof PROVISIONERS)[number];
type PerProvisioner<T> = Record<Provisioner, T>;

const BENCH_RUNBOOK = notebook({
  title: 'Benchmark',
  cells: [{ id: 'one', source: '1+1' }],
});
/** The same with a target: in the sandbox the session's forwarders reach demo-shop. */
const BENCH_TARGET_RUNBOOK = notebook({
  title: 'Benchmark with a target',
  targets: ['demo-shop'],
  environment: 'prod',
  cells: [{ id: 'one', source: '1+1' }],
});
/** For the statement count: `1+1`, and `1+1` after half a second in the kernel. */
const BENCH_SQL_RUNBOOK = notebook({
  title: 'Benchmark, statements',
  cells: [
    { id: 'one', source: '1+1' },
    { id: 'slow', source: 'import time\ntime.sleep(0.5)\n1+1' },
  ],
});

const started = performance.now();
function progress(what: string): void {
  const s = Math.round((performance.now() - started) / 1000);
  process.stderr.write(
    `[bench ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}, load ${loadavg()[0].toFixed(1)}] ${what}\n`,
  );
}

// ---- in-process kernels: launch overhead and direct cell latency -------------------

/** A KernelsService per provisioner, configured as the gateway would be, without a pool. */
function kernelServices(): { services: PerProvisioner<KernelsService>; dirs: string[] } {
  const dirs: string[] = [];
  const make = (p: Provisioner) => {
    const dataDir = mkdtempSync(join(tmpdir(), `rungate-bench-${p}-`));
    dirs.push(dataDir);
    const config = loadConfig({
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      RUNGATE_DATA_DIR: dataDir,
      RUNGATE_KERNEL_POOL_SIZE: '0',
      RUNGATE_KERNEL_PROVISIONER: p,
      RUNGATE_ACCEPT_UNSANDBOXED_KERNELS: 'true',
    });
    return new KernelsService(config, process.env);
  };
  return { services: { process: make('process'), sandbox: make('sandbox') }, dirs };
}

/**
 * Starts `/usr/bin/true` through a provisioner as a kernel is started (runtime
 * directory, cgroups, launch chain) and waits for it to end; then releases what the
 * provisioner set up for it, which for a kernel happens when it ends, off the start path.
 */
async function launchTrue(
  provisioner: KernelProvisioner,
  spec: KernelSpecInfo,
  keepRuntime = false,
): Promise<{ runtime: KernelRuntimeDir; startToExit: number; release: number }> {
  const t0 = process.hrtime.bigint();
  const { runtime } = await provisioner.prepare(spec.name);
  const log = new RingLog(4096);
  const proc = await provisioner.launch({
    kernelId: `bench-${randomUUID()}`,
    spec,
    argv: [TRUE],
    env: { PATH: '/usr/bin:/bin' },
    runtime,
    log,
  });
  const ended = await proc.waitForExit(10_000);
  const t1 = process.hrtime.bigint();
  const exit = proc.exit;
  await proc.release();
  const t2 = process.hrtime.bigint();
  if (!keepRuntime) await removeRuntimeDir(runtime.dir);
  if (!ended || exit?.code !== 0) {
    throw new Error(
      `${TRUE} through the ${provisioner.name} provisioner: ${exit ? describeExit(exit) : 'did not end'}\n${log}`,
    );
  }
  return { runtime, startToExit: Number(t1 - t0) / 1e6, release: Number(t2 - t1) / 1e6 };
}

function run(argv: readonly string[], env: Record<string, string>, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${argv.join(' ')}: exited ${code ?? signal}\n${stderr}`)),
    );
  });
}

/**
 * The sandbox's launch chain (sh → setpriv → prlimit → bwrap → program) as the
 * provisioner builds it, captured from one launch of `true`, and its runtime
 * directory (kept, since bwrap's arguments name it).
 */
async function sandboxChain(
  provisioner: KernelProvisioner,
  spec: KernelSpecInfo,
): Promise<{ argv: string[]; env: Record<string, string>; runtime: KernelRuntimeDir }> {
  const original = KernelProcess.spawn;
  let captured: { argv: string[]; env: Record<string, string> } | undefined;
  KernelProcess.spawn = (argv, env, cwd, log, controls) => {
    captured = { argv: [...argv], env };
    return original.call(KernelProcess, argv, env, cwd, log, controls);
  };
  try {
    const { runtime } = await launchTrue(provisioner, spec, true);
    if (captured === undefined) throw new Error('the sandbox launch was not captured');
    return { ...captured, runtime };
  } finally {
    KernelProcess.spawn = original;
  }
}

interface LaunchFigures {
  provisioned: PerProvisioner<number[]>;
  /** Parts of the sandbox's chain; present as far as this machine uses them. */
  parts: Array<{ label: string; samples: number[] }>;
}

async function launches(services: PerProvisioner<KernelsService>): Promise<LaunchFigures> {
  const spec = (p: Provisioner) => services[p].specs()[0];
  for (const p of PROVISIONERS)
    for (let i = 0; i < 3; i++) await launchTrue(services[p].provisioner, spec(p));
  const releases: number[] = [];
  const provisioned = await alternate(PROVISIONERS, LAUNCHES, async (p) => {
    const t = await launchTrue(services[p].provisioner, spec(p));
    if (p === 'sandbox') releases.push(t.release);
    return t.startToExit;
  });

  const parts: LaunchFigures['parts'] = [];
  const chain = await sandboxChain(services.sandbox.provisioner, spec('sandbox'));
  try {
    const env = chain.env;
    const cwd = chain.runtime.dir;
    const bwrapAt = chain.argv.findIndex((a) => a.endsWith('/bwrap'));
    const setprivAt = chain.argv.findIndex((a) => a.endsWith('/setpriv'));
    const prlimitAt = chain.argv.findIndex((a) => a.endsWith('/prlimit'));
    const from = setprivAt >= 0 ? setprivAt : prlimitAt;
    const variants: Array<{ label: string; argv: string[] }> = [
      { label: '`true`, plain spawn', argv: [TRUE] },
      {
        label: `\`true\` under ${setprivAt >= 0 ? 'setpriv + ' : ''}prlimit`,
        argv: [...chain.argv.slice(from, bwrapAt), TRUE],
      },
      {
        label: `\`true\` under ${setprivAt >= 0 ? 'setpriv + ' : ''}prlimit + bwrap (kernel's arguments)`,
        argv: chain.argv.slice(from),
      },
    ];
    for (const v of variants) for (let i = 0; i < 3; i++) await run(v.argv, env, cwd);
    const samples = variants.map(() => [] as number[]);
    for (let i = 0; i < LAUNCHES; i++)
      for (const [k, v] of variants.entries())
        samples[k].push(await timeIt(() => run(v.argv, env, cwd)));
    variants.forEach((v, k) => parts.push({ label: v.label, samples: samples[k] }));
  } finally {
    await removeRuntimeDir(chain.runtime.dir);
  }

  const layout = detectCgroups();
  if (layout) {
    const samples: number[] = [];
    for (let i = 0; i < LAUNCHES; i++) {
      samples.push(
        await timeIt(async () => {
          const cg = KernelCgroup.create(layout, `bench-${randomUUID()}`, {
            memoryBytes: 2048 * 1024 * 1024,
            pids: 256,
          });
          await cg.remove();
        }),
      );
    }
    parts.push({ label: `kernel cgroups (v${layout.version}) created and removed`, samples });
  }
  parts.push({
    label: 'release after exit (cgroups removed; at kernel end, not on the start path)',
    samples: releases,
  });
  return { provisioned, parts };
}

/** Kernel start as KernelsService.acquire does it with an empty pool: launch to kernel_info. */
async function kernelStarts(
  services: PerProvisioner<KernelsService>,
): Promise<PerProvisioner<number[]>> {
  return alternate(PROVISIONERS, STARTS, async (p) => {
    const t0 = process.hrtime.bigint();
    const kernel = await services[p].acquire();
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    await kernel.shutdown();
    return t;
  });
}

async function executeDirect(kernel: Kernel): Promise<void> {
  const r = await kernel.execute('1+1', { storeHistory: true });
  if (r.status !== 'ok') throw new Error(`direct execute failed: ${JSON.stringify(r)}`);
}

// ---- through the gateway -----------------------------------------------------------

interface Running {
  gw: Gateway;
  token: string;
  /** Its database, when on PostgreSQL. */
  databaseUrl?: string;
  /** Its inspector's port, when started with one (for a CPU profile). */
  inspectPort?: number;
}

async function startSession(r: Running, runbook: string): Promise<string> {
  const s = await r.gw.api('/v1/sessions', {
    token: r.token,
    body: { runbook, reason: 'benchmark' },
  });
  if (s.status !== 201) throw new Error(`session start failed: ${JSON.stringify(s.body)}`);
  return s.body.id as string;
}

async function endSession(r: Running, id: string): Promise<void> {
  const e = await r.gw.api(`/v1/sessions/${id}`, { token: r.token, method: 'DELETE' });
  if (e.status !== 200) throw new Error(`session end failed: ${JSON.stringify(e.body)}`);
}

async function executeCell(r: Running, session: string, cell = 'one'): Promise<void> {
  const e = await r.gw.api(`/v1/sessions/${session}/cells/${cell}/execute`, {
    token: r.token,
    method: 'POST',
  });
  if (e.status !== 200 || e.body.status !== 'ok')
    throw new Error(`execute failed: ${e.status} ${JSON.stringify(e.body)}`);
}

async function poolsIdle(gws: readonly Running[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const r of gws) {
    for (;;) {
      const res = await r.gw.api('/readyz');
      const pool = res.body?.info?.kernels?.pool?.python3;
      if (pool && pool.ready >= POOL_SIZE && pool.starting === 0) break;
      if (Date.now() > deadline) throw new Error('a warm pool did not refill within 60 s');
      await sleep(50);
    }
  }
}

/**
 * Session starts, alternating between the gateways. With `warm`, every start waits
 * until every pool is full and no kernel is starting anywhere: the start is a warm
 * one, and no refill competes with it for the CPU.
 */
async function sessionStarts(
  gws: PerProvisioner<Running>,
  runbook: string,
  warm: boolean,
): Promise<PerProvisioner<number[]>> {
  const all = Object.values(gws);
  // One unmeasured start each first: the first request of a kind warms the gateway's code paths.
  for (const p of PROVISIONERS) {
    if (warm) await poolsIdle(all);
    await endSession(gws[p], await startSession(gws[p], runbook));
  }
  return alternate(PROVISIONERS, STARTS, async (p) => {
    if (warm) await poolsIdle(all);
    let id = '';
    const t = await timeIt(async () => {
      id = await startSession(gws[p], runbook);
    });
    await endSession(gws[p], id);
    return t;
  });
}

interface BenchEnv {
  /** Environment every gateway gets. */
  env: Record<string, string>;
  pg: BenchPostgres;
}

async function startBenchGateway(
  b: BenchEnv,
  opts: {
    provisioner: Provisioner;
    poolSize: number;
    postgres: boolean;
    name: string;
    /** With an inspector on loopback, idle until a profile is taken. */
    inspect?: boolean;
  },
  extra: Record<string, string> = {},
): Promise<Running> {
  const env: Record<string, string> = {
    ...b.env,
    RUNGATE_KERNEL_PROVISIONER: opts.provisioner,
    RUNGATE_KERNEL_POOL_SIZE: String(opts.poolSize),
    ...extra,
  };
  const inspectPort = opts.inspect ? await freePort() : undefined;
  if (inspectPort) env.NODE_OPTIONS = `--inspect=127.0.0.1:${inspectPort}`;
  // Each gateway its own database, as separate deployments would have.
  const databaseUrl = opts.postgres
    ? await createDatabase(b.pg.url, `bench_${opts.name}`)
    : undefined;
  if (databaseUrl) env.DATABASE_URL = databaseUrl;
  const gw = await startGateway({ env });
  try {
    return { gw, token: await gw.token('alice'), databaseUrl, inspectPort };
  } catch (err) {
    await stopGateway({ gw, token: '' });
    throw err;
  }
}

async function stopGateway(r: Running | undefined): Promise<void> {
  if (!r) return;
  await r.gw.stop();
  rmSync(r.gw.dataDir, { recursive: true, force: true });
}

// ---- 3. cell latency, every variant alternating ------------------------------------

const CELL_VARIANTS = [
  'direct-process',
  'direct-sandbox',
  'pg-process',
  'pg-sandbox',
  'embedded-sandbox',
  'jkg',
] as const;
type CellVariant = (typeof CELL_VARIANTS)[number];
const CELL_LABELS: Record<CellVariant, string> = {
  'direct-process': 'direct over ZeroMQ, plain-process kernel',
  'direct-sandbox': 'direct over ZeroMQ, sandboxed kernel',
  'pg-process': 'rungate HTTP API, PostgreSQL, process provisioner',
  'pg-sandbox': 'rungate HTTP API, PostgreSQL, sandbox (as deployed)',
  'embedded-sandbox': 'rungate HTTP API, embedded PGlite, sandbox (`npm start`)',
  jkg: 'Jupyter Kernel Gateway websocket (plain-process kernel)',
};

interface CellFigures {
  samples: Record<CellVariant, number[]>;
  /** Mean ms per cell over blocks of 20 cells sent back to back, blocks alternating. */
  backToBack: Record<'direct-sandbox' | 'pg-sandbox', number[]>;
  /** CPU ms per cell of the server process: each gateway, Kernel Gateway (idle rate taken out). */
  serverCpu: Record<'pg-process' | 'pg-sandbox' | 'embedded-sandbox' | 'jkg', number>;
  /** PostgreSQL's CPU ms per cell of the two gateways on it. */
  postgresCpu: number;
}

async function cellLatencies(
  direct: PerProvisioner<Kernel>,
  gws: Record<'pg-process' | 'pg-sandbox' | 'embedded-sandbox', Running>,
  jkg: { kernel: JupyterWsKernel; pid: number },
  pg: BenchPostgres,
): Promise<CellFigures> {
  const sessions = {} as Record<keyof typeof gws, string>;
  for (const k of Object.keys(gws) as Array<keyof typeof gws>)
    sessions[k] = await startSession(gws[k], 'bench/one');
  const once = (v: CellVariant): Promise<void> => {
    switch (v) {
      case 'direct-process':
        return executeDirect(direct.process);
      case 'direct-sandbox':
        return executeDirect(direct.sandbox);
      case 'jkg':
        return jkg.kernel.execute('1+1');
      default:
        return executeCell(gws[v], sessions[v]);
    }
  };
  await poolsIdle(Object.values(gws));
  const sources = {
    'pg-process': () => processCpu(gws['pg-process'].gw.pid),
    'pg-sandbox': () => processCpu(gws['pg-sandbox'].gw.pid),
    'embedded-sandbox': () => processCpu(gws['embedded-sandbox'].gw.pid),
    jkg: () => processCpu(jkg.pid),
    postgres: () => serverCpu(pg.pid),
  };
  const IDLE_MS = 3000;
  const idleMeter = cpuMeter(sources);
  await sleep(IDLE_MS);
  const idle = idleMeter.since();
  const meter = cpuMeter(sources);
  const t0 = performance.now();
  for (const v of CELL_VARIANTS) for (let i = 0; i < WARMUP; i++) await once(v);
  const samples = await alternate(CELL_VARIANTS, N, async (v) => {
    const ms = await timeIt(() => once(v));
    await sleep(SETTLE_MS);
    return ms;
  });
  const windowMs = performance.now() - t0;
  const used = meter.since();
  // Back to back, no pause: a script's pace, where deferred work meets the next cell.
  const backToBack = await alternate(['direct-sandbox', 'pg-sandbox'] as const, 10, async (v) => {
    const ms = await timeIt(async () => {
      for (let i = 0; i < 20; i++) await once(v);
    });
    return ms / 20;
  });
  const perCell = (k: keyof typeof sources, cells: number) =>
    (used[k] - (idle[k] * windowMs) / IDLE_MS) / cells;
  for (const k of Object.keys(gws) as Array<keyof typeof gws>)
    await endSession(gws[k], sessions[k]);
  return {
    samples,
    backToBack,
    serverCpu: {
      'pg-process': perCell('pg-process', N + WARMUP),
      'pg-sandbox': perCell('pg-sandbox', N + WARMUP),
      'embedded-sandbox': perCell('embedded-sandbox', N + WARMUP),
      jkg: perCell('jkg', N + WARMUP),
    },
    postgresCpu: perCell('postgres', 2 * (N + WARMUP)),
  };
}

// ---- 5. whole runbook: rungate's run against papermill ------------------------------

interface RunbookFigures {
  /** Session start + POST /run + session end. */
  rungate: number[];
  /** POST /run alone. */
  rungateRun: number[];
  /** Sum of the run's executions' own durations (startedAt → finishedAt). */
  rungateCells: number[];
  papermill: number[];
  /** Sum of papermill's per-cell durations. */
  papermillCells: number[];
  codeCells: number;
}

async function runbookRuns(
  r: Running,
  shopEnv: Record<string, string>,
  runbooks: string,
): Promise<RunbookFigures> {
  const work = mkdtempSync(join(tmpdir(), 'rungate-bench-nb-'));
  const input = join(work, 'order-lookup.ipynb');
  const codeCells = readOnlyCopy(join(runbooks, `${SAMPLE_RUNBOOK}.ipynb`), input);
  const out: RunbookFigures = {
    rungate: [],
    rungateRun: [],
    rungateCells: [],
    papermill: [],
    papermillCells: [],
    codeCells,
  };
  const viaRungate = async (): Promise<{ total: number; run: number; cells: number }> => {
    await poolsIdle([r]);
    const t0 = performance.now();
    const id = await startSession(r, SAMPLE_RUNBOOK);
    const t1 = performance.now();
    const res = await r.gw.api(`/v1/sessions/${id}/run`, { token: r.token, method: 'POST' });
    const t2 = performance.now();
    await endSession(r, id);
    const t3 = performance.now();
    const executions = (res.body?.executions ?? []) as Array<{
      status: string;
      startedAt: string | null;
      finishedAt: string | null;
    }>;
    if (
      res.status !== 200 ||
      res.body.stoppedBefore !== null ||
      executions.length === 0 ||
      executions.some((e) => e.status !== 'ok')
    )
      throw new Error(
        `run of ${SAMPLE_RUNBOOK} failed: ${JSON.stringify(res.body).slice(0, 2000)}`,
      );
    const cells = executions.reduce(
      (s, e) => s + (Date.parse(e.finishedAt ?? '') - Date.parse(e.startedAt ?? '')),
      0,
    );
    return { total: t3 - t0, run: t2 - t1, cells };
  };
  try {
    // One unmeasured run each: first imports, first requests.
    await viaRungate();
    await runPapermill(input, shopEnv);
    await alternate(['rungate', 'papermill'] as const, RUNBOOK_RUNS, async (v) => {
      if (v === 'papermill') {
        const p = await runPapermill(input, shopEnv);
        out.papermill.push(p.wall);
        out.papermillCells.push(p.cells);
        return p.wall;
      }
      const g = await viaRungate();
      out.rungate.push(g.total);
      out.rungateRun.push(g.run);
      out.rungateCells.push(g.cells);
      return g.total;
    });
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- 6. SQL statements per cell, and where a cell's time goes ------------------------

interface SqlFigures {
  /** Per cell, `1+1` back to back, the idle gateway's own statements taken out. */
  perCell: StatementCounts;
  /** Per cell, before the kernel runs the code (execution recorded, marked running). */
  request: StatementCounts;
  /** Per cell, after (outputs, completion, the request's audit events). */
  completion: StatementCounts;
  /** Statements per second of the idle gateway. */
  idlePerSecond: number;
  /** Per cell in the same loop (idle rates taken out): */
  wallMs: number;
  walSyncs: number;
  walSyncMs: number;
  gatewayCpuMs: number;
  postgresCpuMs: number;
  benchCpuMs: number;
}

async function statementsPerCell(r: Running, pg: BenchPostgres): Promise<SqlFigures> {
  if (!r.databaseUrl) throw new Error('statement counts need PostgreSQL');
  const counter = await StatementCounter.open(pg.url, r.databaseUrl);
  const cpuSources = {
    gateway: () => processCpu(r.gw.pid),
    postgres: () => serverCpu(pg.pid),
    bench: benchCpu,
  };
  try {
    await counter.enable();
    const id = await startSession(r, 'bench/sql');
    // Every pooled connection of the gateway applies the new settings at its next statement.
    for (let i = 0; i < 20; i++) await executeCell(r, id);
    // Server processes report WAL statistics at most once a second, when idle.
    await sleep(1200);

    // The gateway's own statements, WAL flushes and CPU while idle, subtracted below.
    const IDLE_MS = 3000;
    const i0 = await counter.snapshot();
    const w0 = await counter.wal();
    const idleCpu = cpuMeter(cpuSources);
    await sleep(IDLE_MS);
    const idle = difference(await counter.snapshot(), i0);
    const idleWal = walDelta(await counter.wal(), w0);
    const idleCpuUsed = idleCpu.since();
    const idleFor = (msec: number) => combine(new Map(), idle, -msec / IDLE_MS);

    const s0 = await counter.snapshot();
    const lw0 = await counter.wal();
    const cpu = cpuMeter(cpuSources);
    const t0 = performance.now();
    for (let i = 0; i < SQL_CELLS; i++) await executeCell(r, id);
    const wallMs = (performance.now() - t0) / SQL_CELLS;
    // The last request's audit events are written just after its response; WAL
    // statistics arrive within a second.
    await sleep(1200);
    const windowMs = performance.now() - t0;
    const s1 = await counter.snapshot();
    const wal = walDelta(await counter.wal(), lw0);
    const used = cpu.since();
    const loop = combine(difference(s1, s0), idleFor(windowMs));
    const perCellOf = (v: number, idleV: number) => (v - (idleV * windowMs) / IDLE_MS) / SQL_CELLS;

    // Split: a cell that sleeps 0.5 s in the kernel; a snapshot 0.25 s after the
    // request was sent falls between the two.
    let request: StatementCounts = new Map();
    let completion: StatementCounts = new Map();
    for (let i = 0; i < SQL_SPLIT_CELLS; i++) {
      const a = await counter.snapshot();
      const ta = performance.now();
      const pending = executeCell(r, id, 'slow');
      await sleep(250);
      const b = await counter.snapshot();
      const tb = performance.now();
      await pending;
      await sleep(300);
      const c = await counter.snapshot();
      const tc = performance.now();
      request = combine(request, combine(difference(b, a), idleFor(tb - ta)));
      completion = combine(completion, combine(difference(c, b), idleFor(tc - tb)));
    }
    await endSession(r, id);
    const per = (m: StatementCounts, n: number) => combine(new Map(), m, 1 / n);
    return {
      perCell: per(loop, SQL_CELLS),
      request: per(request, SQL_SPLIT_CELLS),
      completion: per(completion, SQL_SPLIT_CELLS),
      idlePerSecond: (total(idle) * 1000) / IDLE_MS,
      wallMs,
      walSyncs: perCellOf(wal.syncs, idleWal.syncs),
      walSyncMs: perCellOf(wal.syncMs, idleWal.syncMs),
      gatewayCpuMs: perCellOf(used.gateway, idleCpuUsed.gateway),
      postgresCpuMs: perCellOf(used.postgres, idleCpuUsed.postgres),
      benchCpuMs: perCellOf(used.bench, idleCpuUsed.bench),
    };
  } finally {
    await counter.disable().catch(() => undefined);
    await counter.close();
  }
}

function walDelta(after: WalCount, before: WalCount): WalCount {
  return {
    syncs: after.syncs - before.syncs,
    syncMs: after.syncMs - before.syncMs,
    writes: after.writes - before.writes,
  };
}

// ---- where a gateway's CPU goes: a profile -----------------------------------------

const PROFILE_CELLS = 150;

async function profileCells(r: Running): Promise<ProfileSummary> {
  if (!r.inspectPort) throw new Error('this gateway has no inspector');
  const id = await startSession(r, 'bench/one');
  for (let i = 0; i < 10; i++) await executeCell(r, id);
  const profile = await profileWhile(r.inspectPort, async () => {
    for (let i = 0; i < PROFILE_CELLS; i++) await executeCell(r, id);
  });
  await endSession(r, id);
  return summarizeProfile(profile);
}

// ---- 7. cold starts, beside Kernel Gateway's kernel start ---------------------------

async function coldStarts(
  gws: PerProvisioner<Running>,
  jkg: KernelGateway,
): Promise<Record<Provisioner | 'jkg', number[]>> {
  for (const p of PROVISIONERS) await endSession(gws[p], await startSession(gws[p], 'bench/one'));
  await (await jkg.startKernel()).shutdown();
  return alternate(['process', 'sandbox', 'jkg'] as const, STARTS, async (v) => {
    if (v === 'jkg') {
      let kernel: JupyterWsKernel | undefined;
      const t = await timeIt(async () => {
        kernel = await jkg.startKernel();
      });
      await kernel?.shutdown();
      return t;
    }
    let id = '';
    const t = await timeIt(async () => {
      id = await startSession(gws[v], 'bench/one');
    });
    await endSession(gws[v], id);
    return t;
  });
}

// ---- 8. load: many sessions at once -------------------------------------------------

/** CPU ms used during a loop: gateway, kernels, PostgreSQL, the benchmark, the machine. */
type LoadCpu = Record<'gateway' | 'kernels' | 'postgres' | 'bench' | 'machine', number>;

interface LoadRun {
  loop: LoopResult;
  cpu: LoadCpu;
}

interface LoadFigures {
  direct: LoadRun;
  gateway: LoadRun;
  rssBefore: number;
  rssPeak: number;
  rssAfter: number;
  sessionStartErrors: number;
}

async function loadDirect(service: KernelsService, pg: BenchPostgres): Promise<LoadRun> {
  const kernels = await inBatches(
    Array.from({ length: LOAD_SESSIONS }),
    START_CONCURRENCY,
    async () => {
      const k = await service.acquire();
      for (let i = 0; i < 3; i++) await executeDirect(k);
      return k;
    },
  );
  try {
    await sleep(1000);
    const meter = cpuMeter({
      gateway: () => 0,
      kernels: () => descendantsCpu(process.pid, [pg.pid]),
      postgres: () => serverCpu(pg.pid),
      bench: benchCpu,
      machine: machineBusy,
    });
    const loop = await loopFor(
      kernels.map((k) => () => executeDirect(k)),
      LOAD_SECONDS,
    );
    return { loop, cpu: meter.since() };
  } finally {
    await Promise.allSettled(kernels.map((k) => k.shutdown()));
  }
}

async function loadGateway(b: BenchEnv): Promise<Omit<LoadFigures, 'direct'>> {
  const r = await startBenchGateway(
    b,
    { provisioner: 'sandbox', poolSize: 0, postgres: true, name: 'load' },
    {
      RUNGATE_MAX_SESSIONS_PER_USER: String(LOAD_SESSIONS + 10),
      RUNGATE_MAX_SESSIONS: String(2 * LOAD_SESSIONS + 20),
    },
  );
  try {
    let sessionStartErrors = 0;
    const ids = await inBatches(
      Array.from({ length: LOAD_SESSIONS }),
      START_CONCURRENCY,
      async () => {
        for (;;) {
          try {
            const id = await startSession(r, 'bench/one');
            await executeCell(r, id);
            return id;
          } catch (err) {
            if (++sessionStartErrors > 5) throw err;
          }
        }
      },
    );
    await sleep(1000);
    const rssBefore = rssMiB(r.gw.pid) ?? 0;
    const sampler = rssSampler(r.gw.pid);
    const meter = cpuMeter({
      gateway: () => processCpu(r.gw.pid),
      kernels: () => descendantsCpu(r.gw.pid),
      postgres: () => serverCpu(b.pg.pid),
      bench: benchCpu,
      machine: machineBusy,
    });
    const loop = await loopFor(
      ids.map((id) => () => executeCell(r, id)),
      LOAD_SECONDS,
    );
    const cpu = meter.since();
    const rssPeak = sampler.stop();
    const rssAfter = rssMiB(r.gw.pid) ?? 0;
    await inBatches(ids, 8, (id) => endSession(r, id).catch(() => undefined));
    return { gateway: { loop, cpu }, rssBefore, rssPeak, rssAfter, sessionStartErrors };
  } finally {
    await stopGateway(r);
  }
}

// ---- report ------------------------------------------------------------------------

function row(label: string, a: number[], b: number[]): string {
  const x = summary(a);
  const y = summary(b);
  return `| ${label} | ${ms(x.p50)} | ${ms(y.p50)} | ${ratio(y.p50, x.p50)} | ${ms(x.p99)} | ${ms(y.p99)} | ${ratio(y.p99, x.p99)} |`;
}

function verdict(met: boolean, missedBy: string): string {
  return met ? 'met' : `**missed** by ${missedBy}`;
}

function machine(): string {
  const py = spawnSync(KERNEL_PYTHON, [
    '-c',
    'import sys, ipykernel; print(sys.version.split()[0], ipykernel.__version__)',
  ]);
  const [python, ipykernel] = py.stdout.toString().trim().split(' ');
  return (
    `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB memory, Linux ${release()}, Node ${process.versions.node}, ` +
    `kernels: Python ${python} with ipykernel ${ipykernel}`
  );
}

async function main(): Promise<void> {
  // The in-process KernelsServices log through Nest; only their errors matter here.
  Logger.overrideLogger(['error']);
  const loadAtStart = loadavg();
  const dir = runbooksDir({
    'bench/one': BENCH_RUNBOOK,
    'bench/target': BENCH_TARGET_RUNBOOK,
    'bench/sql': BENCH_SQL_RUNBOOK,
  });
  // demo-shop with tokens the benchmark knows, declared to every gateway as a static
  // target (the embedded one is off), so papermill gets what a kernel gets.
  const shopTokens = {
    readOnly: `dshop_ro_${randomBytes(24).toString('base64url')}`,
    elevated: `dshop_rw_${randomBytes(24).toString('base64url')}`,
  };
  const shop = new DemoShopServer(new DemoShop(), shopTokens);
  const shopUrl = await shop.start('127.0.0.1', 0);
  const targetsFile = join(dir, 'bench-targets.yaml');
  writeFileSync(
    targetsFile,
    [
      'targets:',
      '  - name: demo-shop',
      '    environment: prod',
      '    kind: static',
      '    protocol: http',
      `    url: ${shopUrl}`,
      '    readOnly: { env: BENCH_DEMO_SHOP_RO }',
      '    elevated: { env: BENCH_DEMO_SHOP_RW }',
      '',
    ].join('\n'),
  );
  const shopEnv = {
    RUNGATE_TARGET_DEMO_SHOP_NAME: 'demo-shop',
    RUNGATE_TARGET_DEMO_SHOP_KIND: 'http',
    RUNGATE_TARGET_DEMO_SHOP_URL: shopUrl,
    RUNGATE_TARGET_DEMO_SHOP_TOKEN: shopTokens.readOnly,
  };

  progress('starting PostgreSQL');
  const pg = await startDurablePostgres({ statementStats: true });
  const b: BenchEnv = {
    pg,
    env: {
      RUNGATE_RUNBOOKS_DIR: dir,
      NODE_ENV: 'development',
      RUNGATE_LOG_LEVEL: 'error',
      // A benchmark is one person at full speed: the request-rate limits would measure themselves.
      RUNGATE_RATE_LIMIT_PER_PRINCIPAL: '0',
      RUNGATE_RATE_LIMIT_PER_ADDRESS: '0',
      RUNGATE_DEMO_TARGET: 'false',
      RUNGATE_TARGETS_FILE: targetsFile,
      BENCH_DEMO_SHOP_RO: shopTokens.readOnly,
      BENCH_DEMO_SHOP_RW: shopTokens.elevated,
    },
  };
  const database = `PostgreSQL ${pg.version} started for the run (${Object.entries(pg.durability)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')})`;
  console.log(`rungate benchmark on ${machine()}`);
  console.log(
    `${database}; ${N} cells per variant, ${STARTS} session starts of each kind, ${LAUNCHES} ` +
      `launches, ${RUNBOOK_RUNS} runs of ${SAMPLE_RUNBOOK} each way, ${SQL_CELLS} cells counted, ` +
      `${LOAD_SESSIONS} sessions for ${LOAD_SECONDS} s`,
  );

  const { services, dirs } = kernelServices();
  let jkg: KernelGateway | undefined;
  const warm: Partial<Record<'pg-process' | 'pg-sandbox' | 'embedded-sandbox', Running>> = {};
  const cold: Partial<PerProvisioner<Running>> = {};
  let launch: LaunchFigures;
  let kernelStartSamples: PerProvisioner<number[]>;
  let cells: Record<CellVariant, number[]>;
  let cellFigures: CellFigures;
  const profiles = {} as Record<'postgres' | 'embedded', ProfileSummary>;
  let warmStarts: PerProvisioner<number[]>;
  let warmTargetStarts: PerProvisioner<number[]>;
  let runbook: RunbookFigures;
  let sql: SqlFigures;
  let coldStartSamples: Record<Provisioner | 'jkg', number[]>;
  let load: LoadFigures;
  try {
    for (const p of PROVISIONERS) await services[p].onModuleInit();
    progress('launching `true` through the provisioners');
    launch = await launches(services);
    progress('kernel starts, in-process');
    kernelStartSamples = await kernelStarts(services);

    progress('starting the gateways and Jupyter Kernel Gateway');
    jkg = await startKernelGateway();
    warm['pg-process'] = await startBenchGateway(b, {
      provisioner: 'process',
      poolSize: POOL_SIZE,
      postgres: true,
      name: 'warm_process',
    });
    warm['pg-sandbox'] = await startBenchGateway(b, {
      provisioner: 'sandbox',
      poolSize: POOL_SIZE,
      postgres: true,
      name: 'warm_sandbox',
      inspect: true,
    });
    warm['embedded-sandbox'] = await startBenchGateway(b, {
      provisioner: 'sandbox',
      poolSize: POOL_SIZE,
      postgres: false,
      name: 'embedded',
      inspect: true,
    });
    const gws = warm as Required<typeof warm>;
    const pgGws: PerProvisioner<Running> = {
      process: gws['pg-process'],
      sandbox: gws['pg-sandbox'],
    };

    progress(`cell latency, ${CELL_VARIANTS.length} variants`);
    const direct = {} as PerProvisioner<Kernel>;
    for (const p of PROVISIONERS) direct[p] = await services[p].acquire();
    const jkgKernel = await jkg.startKernel();
    try {
      cellFigures = await cellLatencies(direct, gws, { kernel: jkgKernel, pid: jkg.pid }, pg);
      cells = cellFigures.samples;
    } finally {
      await Promise.allSettled([...PROVISIONERS.map((p) => direct[p].shutdown())]);
      await jkgKernel.shutdown().catch(() => undefined);
    }
    progress('CPU profile of the embedded gateway');
    profiles.embedded = await profileCells(gws['embedded-sandbox']);
    await stopGateway(warm['embedded-sandbox']);
    delete warm['embedded-sandbox'];

    progress('warm session starts');
    warmStarts = await sessionStarts(pgGws, 'bench/one', true);
    warmTargetStarts = await sessionStarts(pgGws, 'bench/target', true);

    progress(`${SAMPLE_RUNBOOK}: rungate's run against papermill`);
    runbook = await runbookRuns(gws['pg-sandbox'], shopEnv, dir);

    progress('SQL statements per cell');
    sql = await statementsPerCell(gws['pg-sandbox'], pg);
    progress('CPU profile of the PostgreSQL gateway');
    profiles.postgres = await profileCells(gws['pg-sandbox']);

    await stopGateway(warm['pg-process']);
    await stopGateway(warm['pg-sandbox']);
    delete warm['pg-process'];
    delete warm['pg-sandbox'];

    progress('cold session starts and Kernel Gateway kernel starts');
    for (const p of PROVISIONERS)
      cold[p] = await startBenchGateway(b, {
        provisioner: p,
        poolSize: 0,
        postgres: true,
        name: `cold_${p}`,
      });
    coldStartSamples = await coldStarts(cold as PerProvisioner<Running>, jkg);
    for (const p of PROVISIONERS) {
      await stopGateway(cold[p]);
      delete cold[p];
    }
    await jkg.stop();
    jkg = undefined;

    progress(`load: ${LOAD_SESSIONS} sandboxed kernels driven directly for ${LOAD_SECONDS} s`);
    const loadDirectResult = await loadDirect(services.sandbox, pg);
    progress(`load: ${LOAD_SESSIONS} sessions through the gateway for ${LOAD_SECONDS} s`);
    load = { direct: loadDirectResult, ...(await loadGateway(b)) };
  } finally {
    await Promise.allSettled([
      ...Object.values(warm).map(stopGateway),
      ...Object.values(cold).map(stopGateway),
      jkg?.stop(),
    ]);
    await Promise.allSettled(PROVISIONERS.map((p) => services[p].onApplicationShutdown()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    await pg.stop();
    await shop.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  progress('done');
  const elapsed = (performance.now() - started) / 1000;

  // ---- the execution core's targets ----
  const c = Object.fromEntries(CELL_VARIANTS.map((v) => [v, summary(cells[v])])) as Record<
    CellVariant,
    ReturnType<typeof summary>
  >;
  const overhead = (v: CellVariant, base: CellVariant) => c[v].p50 - c[base].p50;
  const pgOver = overhead('pg-sandbox', 'direct-sandbox');
  const pgP99 = c['pg-sandbox'].p99 / c['direct-sandbox'].p99;
  const embOver = overhead('embedded-sandbox', 'direct-sandbox');
  const procOver = overhead('pg-process', 'direct-process');
  const jkgOver = overhead('jkg', 'direct-process');
  const rg = summary(runbook.rungate);
  const rgRun = summary(runbook.rungateRun);
  const pm = summary(runbook.papermill);
  const pmCells = summary(runbook.papermillCells);
  const ws = summary(warmStarts.sandbox);
  const wp = summary(warmStarts.process);
  const directRate = load.direct.loop.done / load.direct.loop.seconds;
  const through = load.gateway.loop.done / load.gateway.loop.seconds;
  const share = through / directRate;
  const reqN = total(sql.request);
  const compN = total(sql.completion);
  const sign = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(2)} ms`;

  console.log('');
  console.log(
    `## Targets (total run ${Math.floor(elapsed / 60)} min ${Math.round(elapsed % 60)} s)`,
  );
  console.log('');
  console.log('| figure | rungate | baseline (same run) | overhead, ratio | target | |');
  console.log('|---|---|---|---|---|---|');
  console.log(
    `| \`1+1\`, HTTP API on PostgreSQL (durable), sandbox, p50 | ${ms(c['pg-sandbox'].p50)} | ` +
      `${ms(c['direct-sandbox'].p50)} straight over ZeroMQ, sandboxed kernel | ${sign(pgOver)}, ` +
      `${ratio(c['pg-sandbox'].p50, c['direct-sandbox'].p50)} | ≤ 1.0 ms overhead | ` +
      `${verdict(pgOver <= 1, ms(pgOver - 1))} |`,
  );
  console.log(
    `| same, p99 | ${ms(c['pg-sandbox'].p99)} | ${ms(c['direct-sandbox'].p99)} | ` +
      `${sign(c['pg-sandbox'].p99 - c['direct-sandbox'].p99)}, ${pgP99.toFixed(2)}x | ≤ 1.3x | ` +
      `${verdict(pgP99 <= 1.3, `${(pgP99 - 1.3).toFixed(2)}x`)} |`,
  );
  {
    const b = cellFigures.backToBack;
    const [gw, direct] = [summary(b['pg-sandbox']).p50, summary(b['direct-sandbox']).p50];
    console.log(
      `| same, cells sent back to back with no pause (median of 10 blocks of 20, per cell) | ` +
        `${ms(gw)} | ${ms(direct)} | ${sign(gw - direct)}, ${ratio(gw, direct)} | ≤ 1.0 ms overhead | ` +
        `${verdict(gw - direct <= 1, ms(gw - direct - 1))} |`,
    );
  }
  console.log(
    `| same on the embedded database (\`npm start\`), p50 | ${ms(c['embedded-sandbox'].p50)} | ` +
      `${ms(c['direct-sandbox'].p50)} | ${sign(embOver)}, ` +
      `${ratio(c['embedded-sandbox'].p50, c['direct-sandbox'].p50)} | ≤ 3 ms overhead | ` +
      `${verdict(embOver <= 3, ms(embOver - 3))} |`,
  );
  console.log(
    `| peer: Jupyter Kernel Gateway websocket, p50 overhead | sandbox ${sign(pgOver)}; ` +
      `process provisioner ${sign(procOver)} (${ms(c['pg-process'].p50)} over ${ms(c['direct-process'].p50)}) | ` +
      `JKG ${ms(c.jkg.p50)} over ${ms(c['direct-process'].p50)} direct, plain-process kernel | ` +
      `JKG ${sign(jkgOver)} | lower than the peer's | ` +
      `${verdict(pgOver < jkgOver && procOver < jkgOver, ms(Math.max(pgOver, procOver) - jkgOver))} |`,
  );
  console.log(
    `| whole runbook ${SAMPLE_RUNBOOK} (${runbook.codeCells} cells), p50, session start and end included | ` +
      `${ms(rg.p50)} (start + run + end; \`POST /run\` alone ${ms(rgRun.p50)}) | ` +
      `papermill ${ms(pm.p50)} end to end (its cells alone ${ms(pmCells.p50)}) | ` +
      `${ratio(rg.p50, pm.p50)} | faster | ${verdict(rg.p50 < pm.p50, ms(rg.p50 - pm.p50))} |`,
  );
  console.log(
    `| warm session start, sandbox, p50 | ${ms(ws.p50)} | ${ms(wp.p50)} with the process provisioner | ` +
      `${ratio(ws.p50, wp.p50)} | ≤ 50 ms | ${verdict(ws.p50 <= 50, ms(ws.p50 - 50))} |`,
  );
  console.log(
    `| ${LOAD_SESSIONS} sessions running \`1+1\` in a loop for ${LOAD_SECONDS} s | ` +
      `${through.toFixed(0)} cells/s, ${load.gateway.loop.errors} errors, gateway RSS ${load.rssPeak.toFixed(0)} MiB peak | ` +
      `${directRate.toFixed(0)} cells/s, ${LOAD_SESSIONS} sandboxed kernels driven directly | ` +
      `${(share * 100).toFixed(1)} % | zero errors, ≥ 80 % | ` +
      `${verdict(load.gateway.loop.errors === 0 && share >= 0.8, `${((0.8 - share) * 100).toFixed(1)} points${load.gateway.loop.errors ? `, ${load.gateway.loop.errors} errors` : ''}`)} |`,
  );
  console.log(
    `| SQL statements per cell | ${total(sql.perCell).toFixed(1)} (before the kernel runs the code ` +
      `${reqN.toFixed(1)}, after ${compN.toFixed(1)}) | idle gateway ${sql.idlePerSecond.toFixed(1)}/s, subtracted | | reported | |`,
  );

  // ---- details ----
  console.log('');
  console.log('## Cell `1+1`, every variant (samples alternating in the same rounds)');
  console.log('');
  console.log("| variant | p50 | p99 | mean | server process's CPU per cell |");
  console.log('|---|---|---|---|---|');
  for (const v of CELL_VARIANTS) {
    const cpu = v in cellFigures.serverCpu ? cellFigures.serverCpu[v as 'jkg'] : undefined;
    console.log(
      `| ${CELL_LABELS[v]} | ${ms(c[v].p50)} | ${ms(c[v].p99)} | ${ms(c[v].mean)} | ` +
        `${cpu === undefined ? '' : ms(cpu)} |`,
    );
  }
  console.log('');
  console.log(
    `PostgreSQL's CPU (all its processes) per cell of the two gateways on it: ` +
      `${ms(cellFigures.postgresCpu)}. CPU per cell: over the ${N + WARMUP} cells of each ` +
      `variant (warm-up included), its rate while idle taken out.`,
  );

  console.log('');
  console.log('## Sandbox against plain kernel processes (PostgreSQL)');
  console.log('');
  console.log(
    '| measure | process p50 | sandbox p50 | sandbox/process | process p99 | sandbox p99 | sandbox/process |',
  );
  console.log('|---|---|---|---|---|---|---|');
  console.log(
    row(
      'launch `true` through the provisioner, start to exit',
      launch.provisioned.process,
      launch.provisioned.sandbox,
    ),
  );
  console.log(
    row(
      'kernel start to `kernel_info`, in-process (pool size 0)',
      kernelStartSamples.process,
      kernelStartSamples.sandbox,
    ),
  );
  console.log(
    row('cell `1+1`, direct over ZeroMQ', cells['direct-process'], cells['direct-sandbox']),
  );
  console.log(
    row('cell `1+1`, through the gateway (HTTP)', cells['pg-process'], cells['pg-sandbox']),
  );
  console.log(row('session start, warm pool', warmStarts.process, warmStarts.sandbox));
  console.log(
    row('session start, warm pool, one target', warmTargetStarts.process, warmTargetStarts.sandbox),
  );
  console.log(
    row('session start, cold (pool size 0)', coldStartSamples.process, coldStartSamples.sandbox),
  );
  const jk = summary(coldStartSamples.jkg);
  console.log('');
  console.log(
    `Jupyter Kernel Gateway kernel start (POST /api/kernels, websocket, kernel_info reply), ` +
      `alternating with the cold session starts: p50 ${ms(jk.p50)}, p99 ${ms(jk.p99)}`,
  );

  console.log('');
  console.log('The sandbox launch chain taken apart:');
  console.log('');
  console.log('| part | p50 | p99 |');
  console.log('|---|---|---|');
  for (const part of launch.parts) {
    const s = summary(part.samples);
    console.log(`| ${part.label} | ${ms(s.p50)} | ${ms(s.p99)} |`);
  }
  console.log('');
  for (const [label, s] of [
    ['kernel start', kernelStartSamples],
    ['cold session start', coldStartSamples],
  ] as const) {
    // Few, spread samples: all of them, so a second mode (a retried handshake) shows.
    for (const p of PROVISIONERS) {
      const sorted = [...s[p]].sort((x, y) => x - y).map((v) => v.toFixed(0));
      console.log(`${label}, ${p}, ms: ${sorted.join(' ')}`);
    }
  }

  console.log('');
  console.log(`## Whole runbook: ${SAMPLE_RUNBOOK}, ${RUNBOOK_RUNS} runs each way, alternating`);
  console.log('');
  console.log('| measure | p50 | min | max |');
  console.log('|---|---|---|---|');
  const span = (label: string, v: number[]) => {
    const s = [...v].sort((x, y) => x - y);
    console.log(`| ${label} | ${ms(summary(v).p50)} | ${ms(s[0])} | ${ms(s[s.length - 1])} |`);
  };
  span('rungate: session start (warm pool) + `POST /run` + session end', runbook.rungate);
  span('rungate: `POST /run` alone', runbook.rungateRun);
  span("rungate: the run's executions, startedAt to finishedAt, summed", runbook.rungateCells);
  span('papermill, process start to exit (kernel start and shutdown included)', runbook.papermill);
  span("papermill: its cells' own durations, summed", runbook.papermillCells);

  console.log('');
  console.log(
    `## SQL statements per cell (pg_stat_statements; ${SQL_CELLS} cells of \`1+1\`; split on ` +
      `${SQL_SPLIT_CELLS} cells sleeping 0.5 s in the kernel)`,
  );
  console.log('');
  console.log('| statement | per cell | before the kernel runs the code | after |');
  console.log('|---|---|---|---|');
  const ids = new Set([...sql.perCell.keys(), ...sql.request.keys(), ...sql.completion.keys()]);
  const rows = [...ids]
    .map((id) => ({
      query: (sql.perCell.get(id) ?? sql.request.get(id) ?? sql.completion.get(id))!.query,
      per: sql.perCell.get(id)?.calls ?? 0,
      req: sql.request.get(id)?.calls ?? 0,
      comp: sql.completion.get(id)?.calls ?? 0,
    }))
    .filter((r) => Math.abs(r.per) >= 0.05 || Math.abs(r.req) >= 0.05 || Math.abs(r.comp) >= 0.05)
    .sort((x, y) => y.per - x.per);
  for (const r of rows)
    console.log(
      `| \`${oneLine(r.query)}\` | ${r.per.toFixed(1)} | ${r.req.toFixed(1)} | ${r.comp.toFixed(1)} |`,
    );
  console.log(
    `| **total** | **${total(sql.perCell).toFixed(1)}** | **${reqN.toFixed(1)}** | **${compN.toFixed(1)}** |`,
  );
  console.log('');
  console.log(
    `Per cell in the same loop of ${SQL_CELLS} (the idle gateway's rates taken out): ` +
      `${ms(sql.wallMs)} wall (one client, cells back to back); server execution of the ` +
      `statements ${ms(totalMs(sql.perCell))}; ${sql.walSyncs.toFixed(2)} WAL flushes taking ` +
      `${ms(sql.walSyncMs)}; CPU: gateway ${ms(sql.gatewayCpuMs)}, PostgreSQL ` +
      `${ms(sql.postgresCpuMs)}, benchmark client ${ms(sql.benchCpuMs)}.`,
  );

  console.log('');
  console.log(
    `## Where the gateway's CPU goes: self time in a CPU profile of ${PROFILE_CELLS} cells ` +
      '`1+1` back to back (one client), ms per cell',
  );
  console.log('');
  console.log('| code | PostgreSQL gateway | embedded gateway |');
  console.log('|---|---|---|');
  const origins = new Set([
    ...profiles.postgres.byOrigin.map((o) => o.origin),
    ...profiles.embedded.byOrigin.map((o) => o.origin),
  ]);
  const perCellOf = (p: ProfileSummary, o: string) =>
    (p.byOrigin.find((x) => x.origin === o)?.ms ?? 0) / PROFILE_CELLS;
  const originRows = [...origins]
    .map((o) => ({ o, pg: perCellOf(profiles.postgres, o), emb: perCellOf(profiles.embedded, o) }))
    .filter((x) => x.pg >= 0.05 || x.emb >= 0.05)
    .sort((x, y) => y.pg + y.emb - (x.pg + x.emb));
  for (const x of originRows) console.log(`| ${x.o} | ${ms(x.pg)} | ${ms(x.emb)} |`);
  const busy = (p: ProfileSummary) => (p.wallMs - p.idleMs) / PROFILE_CELLS;
  console.log(
    `| **busy (all of the above)** | **${ms(busy(profiles.postgres))}** | **${ms(busy(profiles.embedded))}** |`,
  );
  console.log(
    `| idle (waiting: database, kernel, client) | ${ms(profiles.postgres.idleMs / PROFILE_CELLS)} | ` +
      `${ms(profiles.embedded.idleMs / PROFILE_CELLS)} |`,
  );
  for (const [label, p] of [
    ['PostgreSQL', profiles.postgres],
    ['embedded', profiles.embedded],
  ] as const) {
    console.log('');
    console.log(`Functions with the most self time, ${label} gateway (ms per cell):`);
    for (const f of p.topFunctions) console.log(`- ${(f.ms / PROFILE_CELLS).toFixed(2)} ${f.name}`);
  }
  console.log('');
  console.log(`## Load: ${LOAD_SESSIONS} at once, \`1+1\` back to back for ${LOAD_SECONDS} s`);
  console.log('');
  console.log(
    '| | cells | errors | cells/s | latency p50 | latency p99 | CPUs busy: machine | gateway | kernels | PostgreSQL | benchmark client | other processes |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [label, l] of [
    [`${LOAD_SESSIONS} sandboxed kernels, direct over ZeroMQ`, load.direct],
    [`${LOAD_SESSIONS} sessions through the gateway (PostgreSQL, sandbox)`, load.gateway],
  ] as const) {
    const s = summary(l.loop.latencies);
    const cores = (v: number) => (v / (l.loop.seconds * 1000)).toFixed(2);
    const rest = l.cpu.machine - l.cpu.gateway - l.cpu.kernels - l.cpu.postgres - l.cpu.bench;
    console.log(
      `| ${label} | ${l.loop.done} | ${l.loop.errors} | ${(l.loop.done / l.loop.seconds).toFixed(1)} | ` +
        `${ms(s.p50)} | ${ms(s.p99)} | ${cores(l.cpu.machine)} | ${cores(l.cpu.gateway)} | ` +
        `${cores(l.cpu.kernels)} | ${cores(l.cpu.postgres)} | ${cores(l.cpu.bench)} | ${cores(rest)} |`,
    );
  }
  const perCellCpu = (v: number) => ms(v / load.gateway.loop.done);
  console.log('');
  console.log(
    `CPU per cell under load, through the gateway: gateway ${perCellCpu(load.gateway.cpu.gateway)}, ` +
      `kernels ${perCellCpu(load.gateway.cpu.kernels)}, PostgreSQL ${perCellCpu(load.gateway.cpu.postgres)}, ` +
      `benchmark client ${perCellCpu(load.gateway.cpu.bench)}, machine ${perCellCpu(load.gateway.cpu.machine)}; ` +
      `direct: kernels ${ms(load.direct.cpu.kernels / load.direct.loop.done)}, benchmark client ` +
      `${ms(load.direct.cpu.bench / load.direct.loop.done)}, machine ` +
      `${ms(load.direct.cpu.machine / load.direct.loop.done)}.`,
  );
  console.log('');
  console.log(
    `Gateway RSS (VmRSS): ${load.rssBefore.toFixed(0)} MiB with ${LOAD_SESSIONS} sessions idle, ` +
      `${load.rssPeak.toFixed(0)} MiB peak under load, ${load.rssAfter.toFixed(0)} MiB after. ` +
      `Session starts retried: ${load.sessionStartErrors}.`,
  );
  for (const e of [...load.direct.loop.firstErrors, ...load.gateway.loop.firstErrors])
    console.log(`  error: ${e.slice(0, 300)}`);
  const loadAtEnd = loadavg();
  console.log('');
  console.log(
    `Load average at start ${loadAtStart.map((v) => v.toFixed(2)).join(' ')}, at end ` +
      `${loadAtEnd.map((v) => v.toFixed(2)).join(' ')}; total ${elapsed.toFixed(0)} s.`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
