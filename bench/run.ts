/**
 * `npm run bench`: what the gateway costs on top of the kernel.
 *
 * 1. Cell latency: `1+1` through the gateway's HTTP API (auth, policy, database
 *    record, kernel, outputs, response) against the same cell sent straight over
 *    ZeroMQ to an identical kernel by our own client, measured in the same run.
 * 2. Session start with a warm pool against a cold one (pool size 0).
 *
 * Prints p50/p99 of each and the gateway/direct ratio. Runs on the embedded
 * database unless DATABASE_URL is set or BENCH_DATABASE=postgres (which starts a
 * PostgreSQL server for the run). BENCH_ITERATIONS sets the sample size.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { KernelsService } from '../src/kernels/kernels.service';
import { startGateway, type Gateway } from '../test/support/gateway';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { createDatabase, startPostgres } from '../test/support/postgres';

const N = Number(process.env.BENCH_ITERATIONS ?? 300);
const WARMUP = 30;
const STARTS = Number(process.env.BENCH_SESSION_STARTS ?? 8);

const BENCH_RUNBOOK = notebook({
  title: 'Benchmark',
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

async function direct(): Promise<number[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rungate-bench-direct-'));
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_ENV: 'production',
    RUNGATE_DATA_DIR: dataDir,
    RUNGATE_KERNEL_POOL_SIZE: '0',
  });
  const kernels = new KernelsService(config, process.env);
  await kernels.onModuleInit();
  try {
    const kernel = await kernels.acquire();
    for (let i = 0; i < WARMUP; i++) await kernel.execute('1+1');
    const samples: number[] = [];
    for (let i = 0; i < N; i++) {
      samples.push(
        await timeIt(async () => {
          const r = await kernel.execute('1+1', { storeHistory: true });
          if (r.status !== 'ok') throw new Error(`direct execute failed: ${JSON.stringify(r)}`);
        }),
      );
    }
    return samples;
  } finally {
    await kernels.onApplicationShutdown();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function throughGateway(gw: Gateway, token: string): Promise<number[]> {
  const s = await gw.api('/v1/sessions', {
    token,
    body: { runbook: 'bench/one', reason: 'benchmark' },
  });
  if (s.status !== 201) throw new Error(`session start failed: ${JSON.stringify(s.body)}`);
  const path = `/v1/sessions/${s.body.id}/cells/one/execute`;
  const once = async () => {
    const r = await gw.api(path, { token, method: 'POST' });
    if (r.status !== 200 || r.body.status !== 'ok')
      throw new Error(`execute failed: ${JSON.stringify(r.body)}`);
  };
  for (let i = 0; i < WARMUP; i++) await once();
  const samples: number[] = [];
  for (let i = 0; i < N; i++) samples.push(await timeIt(once));
  await gw.api(`/v1/sessions/${s.body.id}`, { token, method: 'DELETE' });
  return samples;
}

async function sessionStarts(gw: Gateway, token: string, waitForPool: boolean): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    if (waitForPool) await poolReady(gw);
    let id = '';
    samples.push(
      await timeIt(async () => {
        const r = await gw.api('/v1/sessions', {
          token,
          body: { runbook: 'bench/one', reason: 'benchmark start' },
        });
        if (r.status !== 201) throw new Error(`session start failed: ${JSON.stringify(r.body)}`);
        id = r.body.id;
      }),
    );
    await gw.api(`/v1/sessions/${id}`, { token, method: 'DELETE' });
  }
  return samples;
}

/** Waits (with a deadline) until the warm pool is full again, so each start is a warm one. */
async function poolReady(gw: Gateway): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await gw.api('/readyz');
    const pool = r.body?.info?.kernels?.pool?.python3;
    if (pool && pool.ready >= 1) return;
    if (Date.now() > deadline) throw new Error('the warm pool did not refill within 60 s');
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function main(): Promise<void> {
  const dir = runbooksDir({ 'bench/one': BENCH_RUNBOOK });
  // BENCH_DATABASE=postgres: a real PostgreSQL server, started here as the tests start it.
  const pg = process.env.BENCH_DATABASE === 'postgres' ? await startPostgres() : undefined;
  if (pg) process.env.DATABASE_URL = await createDatabase(pg.url, 'bench');
  const env: Record<string, string> = {
    RUNGATE_RUNBOOKS_DIR: dir,
    NODE_ENV: 'development',
    RUNGATE_LOG_LEVEL: 'error',
  };
  if (process.env.DATABASE_URL) env.DATABASE_URL = process.env.DATABASE_URL;
  const database = process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite';
  console.log(
    `rungate benchmark: ${N} executions of "1+1" each way, ${STARTS} session starts each way, ${database}`,
  );

  const directSamples = await direct();
  const warm = await startGateway({ env: { ...env, RUNGATE_KERNEL_POOL_SIZE: '2' } });
  let gatewaySamples: number[];
  let warmStarts: number[];
  try {
    const token = await warm.token('alice');
    gatewaySamples = await throughGateway(warm, token);
    warmStarts = await sessionStarts(warm, token, true);
  } finally {
    await warm.stop();
  }
  const cold = await startGateway({ env: { ...env, RUNGATE_KERNEL_POOL_SIZE: '0' } });
  let coldStarts: number[];
  try {
    coldStarts = await sessionStarts(cold, await cold.token('alice'), false);
  } finally {
    await cold.stop();
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const d = summary(directSamples);
  const g = summary(gatewaySamples);
  const w = summary(warmStarts);
  const c = summary(coldStarts);
  console.log('');
  console.log('| measure | p50 | p99 |');
  console.log('|---|---|---|');
  console.log(`| cell \`1+1\`, direct over ZeroMQ | ${ms(d.p50)} | ${ms(d.p99)} |`);
  console.log(`| cell \`1+1\`, through the gateway (HTTP) | ${ms(g.p50)} | ${ms(g.p99)} |`);
  console.log(
    `| ratio gateway/direct | ${(g.p50 / d.p50).toFixed(2)}x | ${(g.p99 / d.p99).toFixed(2)}x |`,
  );
  console.log(`| session start, warm pool | ${ms(w.p50)} | ${ms(w.p99)} |`);
  console.log(`| session start, cold (pool size 0) | ${ms(c.p50)} | ${ms(c.p99)} |`);
  console.log(
    `| ratio cold/warm start | ${(c.p50 / w.p50).toFixed(2)}x | ${(c.p99 / w.p99).toFixed(2)}x |`,
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
