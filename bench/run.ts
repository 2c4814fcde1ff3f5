/**
 * `npm run bench`: what the gateway and the kernel sandbox cost.
 *
 * Every figure is measured for both kernel provisioners in the same run, the plain
 * child process (`process`, the baseline) and the bubblewrap sandbox (`sandbox`, the
 * default), and printed with the ratio sandbox/process. Samples alternate between
 * the two, one each per round, so that load from elsewhere on the machine falls on
 * both alike.
 *
 * 1. Launch: `/usr/bin/true` through each provisioner, from preparing its runtime
 *    directory (and cgroups) to its exit, and the sandbox's chain taken apart: plain
 *    `true`; setpriv and prlimit; setpriv, prlimit and bwrap; cgroup set-up alone.
 * 2. Kernel start (launch to the kernel_info handshake) in-process, with no pool.
 * 3. Cell latency: `1+1` sent straight over ZeroMQ by our own client to a kernel,
 *    and through the gateway's HTTP API (auth, policy, database record, kernel,
 *    outputs, response).
 * 4. Session start with a warm pool (size 2), for a runbook without targets and for
 *    one with a target (the session's forwarders are attached to the pooled kernel),
 *    and cold (pool size 0: the session waits for a kernel to start).
 *
 * Runs on the embedded database unless DATABASE_URL is set or BENCH_DATABASE=postgres
 * (which starts a durable PostgreSQL server for the run: bench/postgres.ts).
 * BENCH_ITERATIONS sets the cells per provisioner, BENCH_SESSION_STARTS the session
 * starts of each kind per provisioner, BENCH_LAUNCHES the launches of `true`.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { loadConfig } from '../src/config/load-config';
import { removeRuntimeDir, type KernelRuntimeDir } from '../src/kernels/connection';
import { describeExit, KernelProcess } from '../src/kernels/kernel-process';
import type { Kernel } from '../src/kernels/kernels.types';
import { KernelsService } from '../src/kernels/kernels.service';
import type { KernelSpecInfo } from '../src/kernels/kernelspecs';
import type { KernelProvisioner } from '../src/kernels/provisioner';
import { RingLog } from '../src/kernels/ring-log';
import { detectCgroups, KernelCgroup } from '../src/kernels/sandbox/cgroups';
import { startGateway, type Gateway } from '../test/support/gateway';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { createDatabase } from '../test/support/postgres';
import { startDurablePostgres } from './postgres';

const N = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 30;
const STARTS = Number(process.env.BENCH_SESSION_STARTS ?? 8);
const LAUNCHES = Number(process.env.BENCH_LAUNCHES ?? 30);
const POOL_SIZE = 2;
const TRUE = '/usr/bin/true';

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

function percentile(sorted: number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function summary(samples: number[]): { p50: number; p99: number; mean: number } {
  const s = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(s, 50),
    p99: percentile(s, 99),
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

async function timeIt(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** `rounds` samples per provisioner, alternating, the order swapped every round. */
async function alternate(
  rounds: number,
  sample: (p: Provisioner) => Promise<number>,
): Promise<PerProvisioner<number[]>> {
  const out: PerProvisioner<number[]> = { process: [], sandbox: [] };
  for (let i = 0; i < rounds; i++) {
    const order = i % 2 === 0 ? PROVISIONERS : [...PROVISIONERS].reverse();
    for (const p of order) out[p].push(await sample(p));
  }
  return out;
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
  const provisioned = await alternate(LAUNCHES, async (p) => {
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
  return alternate(STARTS, async (p) => {
    const t0 = process.hrtime.bigint();
    const kernel = await services[p].acquire();
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    await kernel.shutdown();
    return t;
  });
}

async function direct(services: PerProvisioner<KernelsService>): Promise<PerProvisioner<number[]>> {
  const kernels = {} as PerProvisioner<Kernel>;
  for (const p of PROVISIONERS) {
    kernels[p] = await services[p].acquire();
    for (let i = 0; i < WARMUP; i++) await kernels[p].execute('1+1');
  }
  try {
    return await alternate(N, (p) =>
      timeIt(async () => {
        const r = await kernels[p].execute('1+1', { storeHistory: true });
        if (r.status !== 'ok') throw new Error(`direct execute failed: ${JSON.stringify(r)}`);
      }),
    );
  } finally {
    await Promise.allSettled(PROVISIONERS.map((p) => kernels[p].shutdown()));
  }
}

// ---- through the gateway -----------------------------------------------------------

interface Running {
  gw: Gateway;
  token: string;
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

async function cells(gws: PerProvisioner<Running>): Promise<PerProvisioner<number[]>> {
  const ids = {} as PerProvisioner<string>;
  for (const p of PROVISIONERS) ids[p] = await startSession(gws[p], 'bench/one');
  const once = async (p: Provisioner) => {
    const r = await gws[p].gw.api(`/v1/sessions/${ids[p]}/cells/one/execute`, {
      token: gws[p].token,
      method: 'POST',
    });
    if (r.status !== 200 || r.body.status !== 'ok')
      throw new Error(`execute failed: ${JSON.stringify(r.body)}`);
  };
  await poolsIdle(gws);
  for (const p of PROVISIONERS) for (let i = 0; i < WARMUP; i++) await once(p);
  const samples = await alternate(N, (p) => timeIt(() => once(p)));
  for (const p of PROVISIONERS) await endSession(gws[p], ids[p]);
  return samples;
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
  // One unmeasured start each first: the first request of a kind warms the gateway's code paths.
  for (const p of PROVISIONERS) {
    if (warm) await poolsIdle(gws);
    await endSession(gws[p], await startSession(gws[p], runbook));
  }
  return alternate(STARTS, async (p) => {
    if (warm) await poolsIdle(gws);
    let id = '';
    const t = await timeIt(async () => {
      id = await startSession(gws[p], runbook);
    });
    await endSession(gws[p], id);
    return t;
  });
}

async function poolsIdle(gws: PerProvisioner<Running>): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (const p of PROVISIONERS) {
    for (;;) {
      const r = await gws[p].gw.api('/readyz');
      const pool = r.body?.info?.kernels?.pool?.python3;
      if (pool && pool.ready >= POOL_SIZE && pool.starting === 0) break;
      if (Date.now() > deadline) throw new Error(`the ${p} warm pool did not refill within 60 s`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
}

async function gateways(
  env: Record<string, string>,
  poolSize: number,
  adminUrl: string | undefined,
): Promise<PerProvisioner<Running>> {
  const out = {} as PerProvisioner<Running>;
  try {
    for (const p of PROVISIONERS) {
      const own: Record<string, string> = {
        ...env,
        RUNGATE_KERNEL_PROVISIONER: p,
        RUNGATE_KERNEL_POOL_SIZE: String(poolSize),
      };
      // Each gateway its own database, as two deployments would have.
      if (adminUrl) own.DATABASE_URL = await createDatabase(adminUrl, `bench_${p}_${poolSize}`);
      const gw = await startGateway({ env: own });
      out[p] = { gw, token: await gw.token('alice') };
    }
    return out;
  } catch (err) {
    await stopGateways(out);
    throw err;
  }
}

async function stopGateways(gws: Partial<PerProvisioner<Running>>): Promise<void> {
  await Promise.allSettled(
    Object.values(gws).map(async (r) => {
      await r.gw.stop();
      rmSync(r.gw.dataDir, { recursive: true, force: true });
    }),
  );
}

// ---- report ------------------------------------------------------------------------

function row(label: string, s: PerProvisioner<number[]>): string {
  const a = summary(s.process);
  const b = summary(s.sandbox);
  return `| ${label} | ${ms(a.p50)} | ${ms(b.p50)} | ${(b.p50 / a.p50).toFixed(2)}x | ${ms(a.p99)} | ${ms(b.p99)} | ${(b.p99 / a.p99).toFixed(2)}x |`;
}

async function main(): Promise<void> {
  // The in-process KernelsServices log through Nest; only their errors matter here.
  Logger.overrideLogger(['error']);
  const dir = runbooksDir({ 'bench/one': BENCH_RUNBOOK, 'bench/target': BENCH_TARGET_RUNBOOK });
  const pg = process.env.BENCH_DATABASE === 'postgres' ? await startDurablePostgres() : undefined;
  const adminUrl = pg?.url ?? process.env.DATABASE_URL;
  const env: Record<string, string> = {
    RUNGATE_RUNBOOKS_DIR: dir,
    NODE_ENV: 'development',
    RUNGATE_LOG_LEVEL: 'error',
  };
  const database = pg
    ? `PostgreSQL ${pg.version} started for the run (${Object.entries(pg.durability)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')})`
    : process.env.DATABASE_URL
      ? 'PostgreSQL (DATABASE_URL)'
      : 'embedded PGlite';
  console.log(
    `rungate benchmark, provisioners process (baseline) and sandbox: ${N} executions of "1+1" ` +
      `and ${STARTS} session starts of each kind per provisioner, ${LAUNCHES} launches; ${database}`,
  );

  let launch: LaunchFigures;
  let kernelStartSamples: PerProvisioner<number[]>;
  let directSamples: PerProvisioner<number[]>;
  let gatewaySamples: PerProvisioner<number[]>;
  let warmStarts: PerProvisioner<number[]>;
  let warmTargetStarts: PerProvisioner<number[]>;
  let coldStarts: PerProvisioner<number[]>;
  try {
    const { services, dirs } = kernelServices();
    try {
      for (const p of PROVISIONERS) await services[p].onModuleInit();
      launch = await launches(services);
      kernelStartSamples = await kernelStarts(services);
      directSamples = await direct(services);
    } finally {
      await Promise.allSettled(PROVISIONERS.map((p) => services[p].onApplicationShutdown()));
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }

    const warm = await gateways(env, POOL_SIZE, adminUrl);
    try {
      gatewaySamples = await cells(warm);
      warmStarts = await sessionStarts(warm, 'bench/one', true);
      warmTargetStarts = await sessionStarts(warm, 'bench/target', true);
    } finally {
      await stopGateways(warm);
    }
    const cold = await gateways(env, 0, adminUrl);
    try {
      coldStarts = await sessionStarts(cold, 'bench/one', false);
    } finally {
      await stopGateways(cold);
    }
  } finally {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  console.log('');
  console.log(
    '| measure | process p50 | sandbox p50 | sandbox/process | process p99 | sandbox p99 | sandbox/process |',
  );
  console.log('|---|---|---|---|---|---|---|');
  console.log(row('launch `true` through the provisioner, start to exit', launch.provisioned));
  console.log(row('kernel start to `kernel_info`, in-process (pool size 0)', kernelStartSamples));
  console.log(row('cell `1+1`, direct over ZeroMQ', directSamples));
  console.log(row('cell `1+1`, through the gateway (HTTP)', gatewaySamples));
  console.log(row('session start, warm pool', warmStarts));
  console.log(row('session start, warm pool, one target', warmTargetStarts));
  console.log(row('session start, cold (pool size 0)', coldStarts));

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
    ['warm start', warmStarts],
    ['warm start with a target', warmTargetStarts],
  ] as const) {
    const ratio = summary(s.sandbox).p50 / summary(s.process).p50;
    const verdict = ratio <= 1.1 ? 'within' : 'NOT within';
    const change = `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
    console.log(`${label}: sandbox vs process p50 ${change}, ${verdict} the 10 % target`);
  }
  const overhead = PROVISIONERS.map(
    (p) => `${p} ${(summary(gatewaySamples[p]).p50 / summary(directSamples[p]).p50).toFixed(2)}x`,
  );
  console.log(`cell \`1+1\`, gateway/direct p50: ${overhead.join(', ')}`);
  for (const [label, s] of [
    ['kernel start', kernelStartSamples],
    ['cold session start', coldStarts],
  ] as const) {
    const a = summary(s.process);
    const b = summary(s.sandbox);
    console.log(
      `${label}: the sandbox adds ${ms(b.p50 - a.p50)} at p50 (${(b.p50 / a.p50).toFixed(2)}x), ` +
        `${ms(b.mean - a.mean)} on the mean (${(b.mean / a.mean).toFixed(2)}x)`,
    );
    // Few, spread samples: all of them, so a second mode (a retried handshake) shows.
    for (const p of PROVISIONERS) {
      const sorted = [...s[p]].sort((x, y) => x - y).map((v) => v.toFixed(0));
      console.log(`  ${p}, ms: ${sorted.join(' ')}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
