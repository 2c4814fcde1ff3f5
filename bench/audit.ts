/**
 * `npm run bench:audit`: the audit trail from outbox to a real Kafka broker.
 *
 * A. The relay on its own, in this process, as the gateway runs it (AuditRelay over
 *    the relaxed pool, KafkaAuditSink, the batch size of the settings' default):
 *    1. Throughput: a backlog of BENCH_AUDIT_BACKLOG events is appended through the
 *       real recording path (AuditService: a cell's `policy.decision` and
 *       `http.request` on the gateway chain, its `cell.execution.requested` and
 *       `.completed` on its session's chain, as the execution path records them)
 *       while no relay runs; then the relay starts, and the time until the outbox
 *       is empty gives events per second.
 *    2. Delivery lag at a paced rate: the same four events per cell appended at
 *       BENCH_AUDIT_CELL_RATE cells per second (200: about 800 events/s) across
 *       BENCH_AUDIT_LAG_SESSIONS sessions' chains while the relay publishes; lag is
 *       the relay's publish stamp (after Kafka acknowledged, acks=all) minus the
 *       event's time.
 * B. Through a gateway with real cells:
 *    1. Drain throughput: the broker is down while sessions run cells, so events pile
 *       up in the outbox; then it comes back and the time until the outbox is empty
 *       gives events per second through the relay.
 *    2. Lag under load: with the broker up, concurrent sessions run cells for a while;
 *       a consumer notes when each event arrives, and the lag is arrival minus the
 *       event's time. Printed as p50/p99, beside the rate of events produced.
 *
 * Real PostgreSQL, with durable settings (bench/postgres.ts), and Kafka as the tests
 * start it.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Client } from 'pg';
import type { AuditedWrite } from '../src/audit/audit.repository';
import { AuditRepository } from '../src/audit/audit.repository';
import { AuditService } from '../src/audit/audit.service';
import { AUDIT_SAMPLES } from '../src/audit/audit.samples';
import { AuditRelay } from '../src/audit/relay/audit-relay';
import { KafkaAuditSink } from '../src/audit/relay/kafka-sink';
import { SETTINGS } from '../src/config/settings';
import { Database } from '../src/db/database';
import { consumeUntil } from '../test/support/audit-reader';
import { startGateway, type Gateway } from '../test/support/gateway';
import { startKafka, uniqueTopic, type KafkaBroker } from '../test/support/kafka';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { createDatabase } from '../test/support/postgres';
import { benchCpu, cpuMeter, machineBusy, processCpu, serverCpu } from './cpu';
import { startDurablePostgres, type BenchPostgres } from './postgres';

const SESSIONS = Number(process.env.BENCH_AUDIT_SESSIONS ?? 4);
const FILL_SECONDS = Number(process.env.BENCH_AUDIT_FILL_SECONDS ?? 15);
const LOAD_SECONDS = Number(process.env.BENCH_AUDIT_LOAD_SECONDS ?? 15);

const BACKLOG = Number(process.env.BENCH_AUDIT_BACKLOG ?? 100_000);
const CELL_RATE = Number(process.env.BENCH_AUDIT_CELL_RATE ?? 200);
const LAG_SECONDS = Number(process.env.BENCH_AUDIT_LAG_SECONDS ?? 30);
const LAG_SESSIONS = Number(process.env.BENCH_AUDIT_LAG_SESSIONS ?? 50);
const BATCH = Number(
  process.env.RUNGATE_AUDIT_RELAY_BATCH ?? SETTINGS.RUNGATE_AUDIT_RELAY_BATCH.default,
);
/** Which parts run: `relay`, `gateway`, or both (the default). */
const PARTS = (process.env.BENCH_AUDIT_PARTS ?? 'relay,gateway').split(',');

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

/** An execution row's write, stood in for: the event is appended with it as the execution path does. */
const EXECUTION_WRITE: AuditedWrite = {
  ctes: 'w AS (SELECT 1 AS one)',
  returning: 'w',
  params: [],
};

/**
 * The events of one `1+1` cell, recorded as the gateway records them: the policy
 * decision and the HTTP command's result on the gateway chain, gathered into group
 * commits (recordSoon); the execution's request and completion on the session's chain,
 * each one statement with the execution's write (commitWith).
 */
async function cellEvents(audit: AuditService, session: string): Promise<void> {
  const { session: _decided, ...decision } = AUDIT_SAMPLES['policy.decision'];
  const { session: _requested, ...http } = AUDIT_SAMPLES['http.request'];
  audit.recordSoon('policy.decision', decision);
  const execution = randomUUID();
  const requested = AUDIT_SAMPLES['cell.execution.requested'];
  await audit.commitWith(EXECUTION_WRITE, 'cell.execution.requested', {
    ...requested,
    session,
    cell: { ...requested.cell, execution_id: execution, code: '1+1' },
    approval: undefined,
  });
  const completed = AUDIT_SAMPLES['cell.execution.completed'];
  await audit.commitWith(EXECUTION_WRITE, 'cell.execution.completed', {
    ...completed,
    session,
    cell: { ...completed.cell, execution_id: execution },
    outcome: { ...completed.outcome, result: 'success', status: 'ok', error: undefined },
  });
  audit.recordSoon('http.request', http);
}

/** The process whose command line mentions `text` (the broker's JVM names its directory). */
function pidWhoseCommandHas(text: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/** Either connection: the gateway part's client or the relay part's pool. */
interface Queries {
  query(sql: string, params?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
}

async function outboxEmpty(db: Queries): Promise<boolean> {
  const r = await db.query(
    'SELECT EXISTS (SELECT 1 FROM audit_events WHERE published_at IS NULL) AS waiting',
  );
  return r.rows[0].waiting !== true;
}

interface RelayFigures {
  readonly backlog: number;
  readonly drainSeconds: number;
  /** Left after the first stamped batch, and the time from that stamp to an empty outbox. */
  readonly afterFirst: { readonly events: number; readonly seconds: number };
  /** CPU ms while draining: this process (the relay), PostgreSQL, the broker, the machine. */
  readonly drainCpu: Record<'relay' | 'postgres' | 'kafka' | 'machine', number>;
  readonly paced: number;
  readonly pacedSeconds: number;
  readonly lags: number[];
}

/** Part A: the relay alone, fed through the real recording path. */
async function relayPart(pg: BenchPostgres, kafka: KafkaBroker): Promise<RelayFigures> {
  const brokers = kafka.brokers;
  const url = await createDatabase(pg.url, 'bench_audit_relay');
  const db = await Database.open({
    url,
    dataDir: '/nonexistent',
    poolSize: 16,
    connectTimeoutMs: 10_000,
  });
  await db.migrate();
  const repo = new AuditRepository();
  const audit = new AuditService(db, repo, {
    recordOutputs: false,
    backlogReadyThreshold: Number.MAX_SAFE_INTEGER,
    backlogReadyMaxAgeMs: Number.MAX_SAFE_INTEGER,
  });
  const sink = new KafkaAuditSink({
    brokers: [brokers],
    clientId: 'rungate-bench',
    ssl: false,
    topic: uniqueTopic('bench-audit-relay'),
    createTopic: true,
    topicPartitions: 3,
    topicReplicationFactor: 1,
    source: 'urn:rungate:bench',
  });
  const relay = new AuditRelay(db.relaxed, repo, sink, {
    owner: randomUUID(),
    pollIntervalMs: SETTINGS.RUNGATE_AUDIT_RELAY_POLL_INTERVAL.default * 1000,
    batchSize: BATCH,
    retentionMs: 0,
  });
  try {
    // 1. Throughput: the backlog, then the relay.
    const sessions = Array.from({ length: SESSIONS }, () => randomUUID());
    const cells = Math.ceil(BACKLOG / 4 / SESSIONS);
    await Promise.all(
      sessions.map(async (session) => {
        for (let i = 0; i < cells; i++) await cellEvents(audit, session);
      }),
    );
    await audit.flushPending();
    const backlog = (await audit.backlog()).events;
    const javaPid = pidWhoseCommandHas(kafka.dir);
    const meter = cpuMeter({
      relay: benchCpu,
      postgres: () => serverCpu(pg.pid),
      kafka: () => (javaPid === undefined ? 0 : processCpu(javaPid)),
      machine: machineBusy,
    });
    const since = (await db.query<{ now: Date }>('SELECT now()')).rows[0].now;
    const t0 = performance.now();
    audit.attachRelay(relay);
    relay.start();
    // Also timed from the first stamped batch, as part B is: without the producer's
    // connection, the topic's creation and the first batch.
    while (!(await stampedSince(db, since))) await new Promise((r) => setTimeout(r, 5));
    const left = (await audit.backlog()).events;
    const t1 = performance.now();
    while (!(await outboxEmpty(db))) await new Promise((r) => setTimeout(r, 5));
    const done = performance.now();
    const drainSeconds = (done - t0) / 1000;
    const cpu = meter.since();

    // 2. Lag at a paced rate, the relay running.
    const lagSessions = Array.from({ length: LAG_SESSIONS }, () => randomUUID());
    const busy = new Map<string, Promise<void>>();
    const start = Date.now();
    const end = start + LAG_SECONDS * 1000;
    let started = 0;
    while (Date.now() < end) {
      const due = Math.floor(((Date.now() - start) / 1000) * CELL_RATE);
      for (; started < due; started++) {
        const session = lagSessions[started % lagSessions.length];
        // A session runs one cell at a time; a cell due while its session is busy waits.
        const previous = busy.get(session);
        busy.set(
          session,
          (previous ?? Promise.resolve()).then(() => cellEvents(audit, session)),
        );
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(busy.values());
    await audit.flushPending();
    const pacedSeconds = (Date.now() - start) / 1000;
    while (!(await outboxEmpty(db))) await new Promise((r) => setTimeout(r, 5));
    const { rows } = await db.query<{ lag: number }>(
      `SELECT extract(epoch FROM published_at - time) * 1000 AS lag FROM audit_events
        WHERE time >= to_timestamp($1 / 1000.0)`,
      [start],
    );
    return {
      backlog,
      drainSeconds,
      afterFirst: { events: left, seconds: (done - t1) / 1000 },
      drainCpu: cpu,
      paced: rows.length,
      pacedSeconds,
      lags: rows.map((r) => Number(r.lag)),
    };
  } finally {
    audit.attachRelay(undefined);
    await relay.stop(5_000);
    await db.close();
  }
}

async function stampedSince(db: Queries, since: Date): Promise<boolean> {
  const r = await db.query(
    'SELECT EXISTS (SELECT 1 FROM audit_events WHERE published_at >= $1) AS stamped',
    [since],
  );
  return r.rows[0].stamped === true;
}

async function unpublished(db: Client): Promise<number> {
  const r = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM audit_events WHERE published_at IS NULL',
  );
  return r.rows[0].n;
}

/** Part B: through a gateway running real cells. Prints its table. */
async function gatewayPart(pgUrl: string, kafka: KafkaBroker): Promise<void> {
  const dir = runbooksDir({ 'bench/one': RUNBOOK });
  const dbUrl = await createDatabase(pgUrl, 'bench_audit');
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
    const since = (await db.query<{ now: Date }>('SELECT now()')).rows[0].now;
    await kafka.start();
    // Timed from the relay's first stamped batch (not from the broker's restart or the
    // relay's back-off) to an empty outbox, over the events left at that moment. The
    // polls are index probes: counting the backlog every few milliseconds would take
    // the server's CPU from the relay.
    while (!(await stampedSince(db, since))) await new Promise((r) => setTimeout(r, 5));
    const drained = await unpublished(db);
    const t0 = performance.now();
    while (!(await outboxEmpty(db))) await new Promise((r) => setTimeout(r, 5));
    const drainSeconds = (performance.now() - t0) / 1000;

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
    console.log(`B. Through a gateway: ${SESSIONS} sessions running \`1+1\` back to back`);
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
  }
}

async function main(): Promise<void> {
  console.log(
    `rungate audit benchmark: ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}, relay batch ${BATCH}`,
  );
  const pg = await startDurablePostgres();
  const kafka = await startKafka();
  console.log(
    `PostgreSQL ${pg.version}, ${JSON.stringify(pg.durability)}; Kafka at ${kafka.brokers}`,
  );
  try {
    if (PARTS.includes('relay')) {
      const f = await relayPart(pg, kafka);
      console.log('');
      console.log(
        `A. The relay alone: a backlog from ${SESSIONS} sessions' cells, then ${CELL_RATE} cells/s ` +
          `over ${LAG_SESSIONS} sessions for ${LAG_SECONDS} s`,
      );
      console.log('');
      console.log('| measure | value |');
      console.log('|---|---|');
      console.log(`| backlog appended through AuditService | ${f.backlog} events |`);
      console.log(
        `| outbox drained to Kafka from the relay's start | ${f.drainSeconds.toFixed(2)} s |`,
      );
      console.log(
        `| relay throughput, outbox → broker, from the relay's start (producer connection and topic creation included) | ${(f.backlog / f.drainSeconds).toFixed(0)} events/s |`,
      );
      console.log(
        `| relay throughput, outbox → broker, from the first stamped batch (as in part B) | ${(f.afterFirst.events / f.afterFirst.seconds).toFixed(0)} events/s (${f.afterFirst.events} events in ${f.afterFirst.seconds.toFixed(2)} s) |`,
      );
      const perEvent = (ms: number) => `${((ms / f.backlog) * 1000).toFixed(0)} µs/event`;
      const c = f.drainCpu;
      console.log(
        `| CPU while draining: relay (this process) | ${(c.relay / 1000).toFixed(2)} s (${perEvent(c.relay)}) |`,
      );
      console.log(
        `| CPU while draining: PostgreSQL | ${(c.postgres / 1000).toFixed(2)} s (${perEvent(c.postgres)}) |`,
      );
      console.log(
        `| CPU while draining: Kafka broker | ${(c.kafka / 1000).toFixed(2)} s (${perEvent(c.kafka)}) |`,
      );
      console.log(
        `| CPU while draining: whole machine | ${(c.machine / 1000).toFixed(2)} s of ${(f.drainSeconds * cpus().length).toFixed(2)} s |`,
      );
      console.log(
        `| events appended at the paced rate | ${(f.paced / f.pacedSeconds).toFixed(0)} events/s (${f.paced} events) |`,
      );
      console.log(
        `| delivery lag (event time → acked by Kafka), p50 | ${percentile(f.lags, 50).toFixed(1)} ms |`,
      );
      console.log(`| delivery lag, p99 | ${percentile(f.lags, 99).toFixed(1)} ms |`);
      console.log(`| delivery lag, max | ${Math.max(...f.lags).toFixed(1)} ms |`);
    }
    if (PARTS.includes('gateway')) await gatewayPart(pg.url, kafka);
  } finally {
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
