/**
 * `npm run bench:audit`: the audit trail from outbox to a real Kafka broker.
 *
 * 1. Drain throughput: the broker is down while sessions run cells, so events pile
 *    up in the outbox; then it comes back and the time until the outbox is empty
 *    gives events per second through the relay.
 * 2. Lag under load: with the broker up, concurrent sessions run cells for a while;
 *    a consumer notes when each event arrives, and the lag is arrival minus the
 *    event's time. Printed as p50/p99, beside the rate of events produced.
 *
 * Real PostgreSQL, with durable settings (bench/postgres.ts), and Kafka as the tests
 * start it.
 */
import { Client } from 'pg';
import { consumeUntil } from '../test/support/audit-reader';
import { startGateway, type Gateway } from '../test/support/gateway';
import { startKafka, uniqueTopic } from '../test/support/kafka';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { createDatabase } from '../test/support/postgres';
import { startDurablePostgres } from './postgres';

const SESSIONS = Number(process.env.BENCH_AUDIT_SESSIONS ?? 4);
const FILL_SECONDS = Number(process.env.BENCH_AUDIT_FILL_SECONDS ?? 15);
const LOAD_SECONDS = Number(process.env.BENCH_AUDIT_LOAD_SECONDS ?? 15);

const RUNBOOK = notebook({ title: 'Audit benchmark', cells: [{ id: 'one', source: '1+1' }] });

function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Runs `1+1` in `SESSIONS` sessions at once until `seconds` pass; answers the executions made. */
async function load(
  gw: Gateway,
  token: string,
  sessions: string[],
  seconds: number,
): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    sessions.map(async (id) => {
      while (Date.now() < until) {
        const r = await gw.api(`/v1/sessions/${id}/cells/one/execute`, { token, method: 'POST' });
        if (r.status !== 200) throw new Error(`execute failed: ${JSON.stringify(r.body)}`);
        n++;
      }
    }),
  );
  return n;
}

async function unpublished(db: Client): Promise<number> {
  const r = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM audit_events WHERE published_at IS NULL',
  );
  return r.rows[0].n;
}

async function main(): Promise<void> {
  console.log(
    `rungate audit benchmark: ${SESSIONS} sessions, ${FILL_SECONDS} s of backlog, ${LOAD_SECONDS} s of load`,
  );
  const pg = await startDurablePostgres();
  const kafka = await startKafka();
  const dir = runbooksDir({ 'bench/one': RUNBOOK });
  const dbUrl = await createDatabase(pg.url, 'bench_audit');
  const topic = uniqueTopic('bench-audit');
  const gw = await startGateway({
    env: {
      DATABASE_URL: dbUrl,
      KAFKA_BROKERS: kafka.brokers,
      RUNGATE_AUDIT_TOPIC: topic,
      RUNGATE_RUNBOOKS_DIR: dir,
      RUNGATE_KERNEL_POOL_SIZE: String(SESSIONS),
      RUNGATE_LOG_LEVEL: 'error',
      // One person at full speed: the request-rate limits would measure themselves.
      RUNGATE_RATE_LIMIT_PER_PRINCIPAL: '0',
      RUNGATE_RATE_LIMIT_PER_ADDRESS: '0',
      NODE_ENV: 'development',
    },
  });
  const db = new Client({ connectionString: dbUrl });
  await db.connect();
  try {
    const token = await gw.token('alice');
    const sessions: string[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      const r = await gw.api('/v1/sessions', {
        token,
        body: { runbook: 'bench/one', reason: 'audit benchmark' },
      });
      sessions.push(r.body.id);
    }

    // 1. Drain throughput.
    await kafka.halt();
    const filled = await load(gw, token, sessions, FILL_SECONDS);
    const backlog = await unpublished(db);
    await kafka.start();
    // Timed from the relay's first publish (not from the broker's restart or the
    // relay's back-off) to an empty outbox.
    let left = backlog;
    while ((left = await unpublished(db)) === backlog) await new Promise((r) => setTimeout(r, 5));
    const t0 = performance.now();
    while ((await unpublished(db)) > 0) await new Promise((r) => setTimeout(r, 5));
    const drainSeconds = (performance.now() - t0) / 1000;
    const drained = left;

    // 2. Lag under load.
    const before = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events'))
      .rows[0].n;
    const loadStart = Date.now();
    const ran = await load(gw, token, sessions, LOAD_SECONDS);
    const loadEnd = Date.now();
    const total = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events'))
      .rows[0].n;
    // Every event reaches a consumer (a sanity check, not a timing)...
    const seen = new Set<string>();
    await consumeUntil(
      kafka.brokers,
      topic,
      (ms) => {
        for (const m of ms) seen.add(m.event.id);
        return seen.size >= total;
      },
      120_000,
    );
    // ...and its lag is the relay's publish stamp (after Kafka acked, acks=all) minus
    // the event's time, both taken by the gateway.
    const rows = await db.query<{ lag: number }>(
      `SELECT extract(epoch FROM published_at - time) * 1000 AS lag FROM audit_events
        WHERE time >= to_timestamp($1 / 1000.0) AND time <= to_timestamp($2 / 1000.0)`,
      [loadStart, loadEnd],
    );
    const lags = rows.rows.map((r) => Number(r.lag));
    console.log('');
    console.log('| measure | value |');
    console.log('|---|---|');
    console.log(
      `| backlog built with the broker down | ${backlog} events (${filled} executions) |`,
    );
    console.log(
      `| outbox drained to Kafka from the first publish | ${drainSeconds.toFixed(2)} s |`,
    );
    console.log(
      `| relay throughput, outbox → broker | ${(drained / drainSeconds).toFixed(0)} events/s |`,
    );
    console.log(
      `| events produced under load | ${((total - before) / LOAD_SECONDS).toFixed(0)} events/s (${ran} executions) |`,
    );
    console.log(
      `| end-to-end lag (event time → acked by Kafka), p50 | ${percentile(lags, 50).toFixed(1)} ms |`,
    );
    console.log(`| end-to-end lag, p99 | ${percentile(lags, 99).toFixed(1)} ms |`);
    console.log(`| events read back by a consumer | ${seen.size} of ${total} |`);
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
    console.error(`audit benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
