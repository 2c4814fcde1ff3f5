/**
 * `npm run bench:capacity`: what one replica holds, on PostgreSQL with durable
 * settings (bench/postgres.ts) and the Kafka sink as deployed.
 *
 * 1. Memory: the gateway process's resident set (VmRSS; kernels are other processes
 *    and excluded) idle, then with `BENCH_CAP_SESSIONS` open sessions; each kernel's
 *    resident set is measured apart.
 * 2. Throughput: every open session runs `1+1` back to back for `BENCH_CAP_SECONDS`;
 *    cells per second and audit events per second, with the gateway's CPU share.
 *
 * Ratios against a baseline are in bench/run.ts; this prints absolute figures for
 * docs/scale.md, with the machine they were measured on.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { Client } from 'pg';
import { startGateway, type Gateway } from '../test/support/gateway';
import { startKafka, uniqueTopic } from '../test/support/kafka';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { createDatabase } from '../test/support/postgres';
import { startDurablePostgres } from './postgres';

const SESSIONS = Number(process.env.BENCH_CAP_SESSIONS ?? 50);
const SECONDS = Number(process.env.BENCH_CAP_SECONDS ?? 20);
const RUNBOOK = notebook({ title: 'Capacity benchmark', cells: [{ id: 'one', source: '1+1' }] });

/** Resident set of a process, in MiB. */
function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU seconds a process has used (user + system). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Pids of the gateway's kernels: its descendants running ipykernel. */
function kernelPids(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('ipykernel_launcher') && !cmd.includes('bwrap')) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

async function settle(gw: Gateway): Promise<void> {
  // Let start-up work (catalog, pool, relay) finish and the heap settle.
  for (let i = 0; i < 3; i++) await gw.api('/healthz');
  global.gc?.();
}

async function main(): Promise<void> {
  console.log(
    `rungate capacity benchmark: ${SESSIONS} sessions, ${SECONDS} s of load, ${cpus().length} CPUs`,
  );
  const pg = await startDurablePostgres();
  const kafka = await startKafka();
  const dir = runbooksDir({ 'bench/one': RUNBOOK });
  const dbUrl = await createDatabase(pg.url, 'bench_capacity');
  const gw = await startGateway({
    env: {
      DATABASE_URL: dbUrl,
      KAFKA_BROKERS: kafka.brokers,
      RUNGATE_AUDIT_TOPIC: uniqueTopic('bench-capacity'),
      RUNGATE_RUNBOOKS_DIR: dir,
      RUNGATE_KERNEL_POOL_SIZE: '0',
      RUNGATE_MAX_SESSIONS: String(SESSIONS + 10),
      RUNGATE_MAX_SESSIONS_PER_USER: String(SESSIONS + 10),
      RUNGATE_RATE_LIMIT_PER_PRINCIPAL: '0',
      RUNGATE_RATE_LIMIT_PER_ADDRESS: '0',
      RUNGATE_LOG_LEVEL: 'error',
      NODE_ENV: 'development',
    },
  });
  const db = new Client({ connectionString: dbUrl });
  await db.connect();
  try {
    await settle(gw);
    const idle = rssMiB(gw.pid);
    const token = await gw.token('alice');
    const sessions: string[] = [];
    const t0 = performance.now();
    for (let i = 0; i < SESSIONS; i++) {
      const r = await gw.api('/v1/sessions', {
        token,
        body: { runbook: 'bench/one', reason: 'capacity benchmark' },
      });
      if (r.status !== 201) throw new Error(`session ${i}: ${JSON.stringify(r.body)}`);
      sessions.push(r.body.id);
      if ((i + 1) % 10 === 0) console.error(`  ${i + 1}/${SESSIONS} sessions open`);
    }
    const startSeconds = (performance.now() - t0) / 1000;
    await settle(gw);
    const withSessions = rssMiB(gw.pid);
    const kernels = kernelPids()
      .map(rssMiB)
      .filter((v) => !Number.isNaN(v));

    const eventsBefore = (
      await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events')
    ).rows[0].n;
    const cpu0 = cpuSeconds(gw.pid);
    const until = Date.now() + SECONDS * 1000;
    let cells = 0;
    await Promise.all(
      sessions.map(async (id) => {
        while (Date.now() < until) {
          const r = await gw.api(`/v1/sessions/${id}/cells/one/execute`, {
            token,
            method: 'POST',
          });
          if (r.status !== 200) throw new Error(`execute: ${JSON.stringify(r.body)}`);
          cells++;
        }
      }),
    );
    const cpu = cpuSeconds(gw.pid) - cpu0;
    const events =
      (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events')).rows[0].n -
      eventsBefore;
    const underLoad = rssMiB(gw.pid);

    const kernelAvg = kernels.reduce((a, b) => a + b, 0) / Math.max(1, kernels.length);
    console.log('');
    console.log('| measure | value |');
    console.log('|---|---|');
    console.log(`| gateway RSS, idle (kernels excluded) | ${idle.toFixed(0)} MiB |`);
    console.log(
      `| gateway RSS with ${SESSIONS} open sessions | ${withSessions.toFixed(0)} MiB (${((withSessions - idle) / SESSIONS).toFixed(2)} MiB per session) |`,
    );
    console.log(`| gateway RSS after the load | ${underLoad.toFixed(0)} MiB |`);
    console.log(
      `| kernel RSS (each, ${kernels.length} measured) | ${kernelAvg.toFixed(0)} MiB on average |`,
    );
    console.log(
      `| ${SESSIONS} sessions started one after another | ${startSeconds.toFixed(1)} s (${(startSeconds / SESSIONS).toFixed(2)} s each, cold kernels) |`,
    );
    console.log(
      `| cells per second, ${SESSIONS} sessions running \`1+1\` | ${(cells / SECONDS).toFixed(0)} (${cells} in ${SECONDS} s) |`,
    );
    console.log(`| audit events per second under that load | ${(events / SECONDS).toFixed(0)} |`);
    console.log(
      `| gateway CPU under that load | ${((cpu / SECONDS) * 100).toFixed(0)} % of one core |`,
    );
  } finally {
    await db.end();
    await gw.stop();
    await kafka.stop();
    await pg.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`capacity benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
