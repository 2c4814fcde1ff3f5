/**
 * What must hold after any fault (issue 11, "Faults, with real processes"), checked
 * from the outside: the gateway's database, the Kafka topic and the target database.
 * Used by test/e2e/faults-*.test.ts and by `npm run chaos` (bench/chaos.ts), so it
 * asserts nothing itself: it answers a report whose lists are empty when all holds.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Client } from 'pg';
import { AuditRepository } from '../../src/audit/audit.repository';
import { AuditService } from '../../src/audit/audit.service';
import { GATEWAY_CHAIN } from '../../src/audit/audit.types';
import { Database } from '../../src/db/database';
import { createTopic, testKafka } from './kafka';

export interface InvariantInput {
  /** The gateway's database. */
  readonly dbUrl: string;
  readonly brokers: string;
  readonly topic: string;
  /** A postgres target whose minted roles must not outlive their cell or session. */
  readonly target?: { readonly url: string; readonly rolePrefix: string };
  /** How long to wait for committed events to reach Kafka. Default 60 s. */
  readonly deliveryTimeoutMs?: number;
}

export interface InvariantReport {
  /** Events in the outbox when the check began. */
  readonly committed: number;
  /** Of those, how many were found on the topic. */
  readonly delivered: number;
  /** Messages read (duplicates of at-least-once delivery included). */
  readonly messages: number;
  /** Committed events not on the topic (`chain#seq type`). */
  readonly missing: string[];
  /** Chains whose events reached Kafka out of seq order (first occurrences), or under another key. */
  readonly outOfOrder: string[];
  /** Chains whose hash chain does not verify, with the break. */
  readonly brokenChains: string[];
  /** Executions without a committed `cell.execution.requested` event. */
  readonly unrequested: string[];
  /** Executions still queued or running though their session is over. */
  readonly unfinished: string[];
  /** Minted roles alive on the target whose session is over or whose cell has ended. */
  readonly liveRoles: string[];
  /** Connections on the target still logged in with a minted role that should be gone. */
  readonly liveLogins: string[];
}

interface OutboxRow {
  id: string;
  chain: string;
  seq: string;
  type: string;
}

/** Every check; the lists of the report are empty when all holds. */
export async function checkInvariants(input: InvariantInput): Promise<InvariantReport> {
  const db = new Client({ connectionString: input.dbUrl });
  await db.connect();
  try {
    const { rows: events } = await db.query<OutboxRow>(
      'SELECT id, chain, seq::text AS seq, type FROM audit_events ORDER BY chain, seq',
    );
    const delivery = await deliveryOf(input, events);
    const brokenChains = await verifyChains(input.dbUrl, [...new Set(events.map((e) => e.chain))]);
    const { rows: unrequested } = await db.query<{ id: string; cell_id: string; state: string }>(
      `SELECT e.id, e.cell_id, e.state FROM executions e
        WHERE NOT EXISTS (SELECT 1 FROM audit_events a
                           WHERE a.type = 'cell.execution.requested' AND a.session_id = e.session_id::text
                             AND (a.body::jsonb -> 'cell' ->> 'execution_id') = e.id::text)`,
    );
    const { rows: unfinished } = await db.query<{ id: string; state: string }>(
      `SELECT e.id, e.state FROM executions e JOIN sessions s ON s.id = e.session_id
        WHERE s.state IN ('ended', 'lost') AND e.state IN ('queued', 'running')`,
    );
    const credentials = input.target
      ? await liveCredentials(db, input.target)
      : { liveRoles: [], liveLogins: [] };
    return {
      committed: events.length,
      ...delivery,
      brokenChains,
      unrequested: unrequested.map((e) => `${e.id} (${e.cell_id}, ${e.state})`),
      unfinished: unfinished.map((e) => `${e.id} (${e.state})`),
      ...credentials,
    };
  } finally {
    await db.end();
  }
}

/** Reads the topic until every committed event is there (or the deadline passes). */
async function deliveryOf(
  input: InvariantInput,
  events: readonly OutboxRow[],
): Promise<Pick<InvariantReport, 'delivered' | 'messages' | 'missing' | 'outOfOrder'>> {
  const wanted = new Set(events.map((e) => e.id));
  const seen: Array<{ key: string | null; id: string; chain: string; seq: number }> = [];
  const found = new Set<string>();
  const consumer = testKafka(input.brokers, 'rungate-faults-reader').consumer({
    groupId: `rungate-faults-${randomUUID()}`,
    maxWaitTimeInMs: 100,
  });
  await createTopic(input.brokers, input.topic);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: input.topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, input.deliveryTimeoutMs ?? 60_000);
      const check = () => {
        if ([...wanted].every((id) => found.has(id))) {
          clearTimeout(timer);
          resolve();
        }
      };
      check();
      consumer
        .run({
          eachMessage: async ({ message }) => {
            const e = JSON.parse(message.value?.toString() ?? 'null') as {
              id: string;
              seq: number;
              session?: string;
            };
            seen.push({
              key: message.key?.toString() ?? null,
              id: e.id,
              chain: e.session ?? GATEWAY_CHAIN,
              seq: e.seq,
            });
            found.add(e.id);
            check();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  const missing = events
    .filter((e) => !found.has(e.id))
    .map((e) => `${e.chain}#${e.seq} ${e.type}`);
  // Per chain, the first occurrence of each event comes in seq order (at least once:
  // a relay that died before marking what it sent publishes it again, after it).
  const outOfOrder: string[] = [];
  const firsts = new Map<string, number[]>();
  const once = new Set<string>();
  for (const m of seen) {
    if (m.key !== m.chain) outOfOrder.push(`${m.chain}: event ${m.id} under key ${m.key}`);
    if (once.has(m.id)) continue;
    once.add(m.id);
    firsts.set(m.chain, [...(firsts.get(m.chain) ?? []), m.seq]);
  }
  for (const [chain, seqs] of firsts) {
    const i = seqs.findIndex((s, k) => k > 0 && s <= seqs[k - 1]);
    if (i > 0) outOfOrder.push(`${chain}: seq ${seqs[i]} after ${seqs[i - 1]}`);
  }
  return {
    delivered: events.filter((e) => found.has(e.id)).length,
    messages: seen.length,
    missing,
    outOfOrder,
  };
}

/** Recomputes every chain with the gateway's own verifier (what GET …/verify answers). */
async function verifyChains(dbUrl: string, chains: readonly string[]): Promise<string[]> {
  const db = await Database.open({
    url: dbUrl,
    dataDir: '/nonexistent',
    poolSize: 2,
    connectTimeoutMs: 5_000,
  });
  try {
    const audit = new AuditService(db, new AuditRepository(), {
      recordOutputs: false,
      backlogReadyThreshold: 1_000_000,
      backlogReadyMaxAgeMs: 3_600_000,
    });
    const broken: string[] = [];
    for (const chain of chains) {
      const v = await audit.verify(chain);
      if (!v.ok) broken.push(`${chain}: ${JSON.stringify(v)}`);
    }
    return broken;
  } finally {
    await db.close();
  }
}

/**
 * Roles minted on the target (named `<prefix>ro_…`, `<prefix>rw_…`, owner in their
 * comment) that should be gone: a session's role once the session is over, a cell's
 * role once its execution has ended; and connections still logged in with them.
 */
async function liveCredentials(
  gatewayDb: Client,
  target: { url: string; rolePrefix: string },
): Promise<Pick<InvariantReport, 'liveRoles' | 'liveLogins'>> {
  const t = new Client({ connectionString: target.url });
  await t.connect();
  try {
    const { rows: roles } = await t.query<{ rolname: string; comment: string | null }>(
      `SELECT r.rolname, shobj_description(r.oid, 'pg_authid') AS comment
         FROM pg_roles r WHERE starts_with(r.rolname, $1)`,
      [target.rolePrefix],
    );
    const liveRoles: string[] = [];
    for (const role of roles) {
      const m = /^rungate session (\S+)(?: target \S+)?(?: execution (\S+))?$/.exec(
        role.comment ?? '',
      );
      if (!m) {
        liveRoles.push(`${role.rolname} (no owner recorded)`);
        continue;
      }
      const [, session, execution] = m;
      const { rows } = await gatewayDb.query<{ session: string; execution: string | null }>(
        `SELECT s.state AS session, e.state AS execution FROM sessions s
           LEFT JOIN executions e ON e.id::text = $2 WHERE s.id::text = $1`,
        [session, execution ?? ''],
      );
      const state = rows[0];
      const over = state === undefined || ['ended', 'lost'].includes(state.session);
      const cellOver =
        execution !== undefined && !['queued', 'running'].includes(state?.execution ?? 'gone');
      if (over || cellOver) {
        liveRoles.push(
          `${role.rolname} (session ${state?.session ?? 'unknown'}, cell ${state?.execution ?? '-'})`,
        );
      }
    }
    const names = new Set(liveRoles.map((r) => r.split(' ')[0]));
    const { rows: logins } = await t.query<{ usename: string; pid: number }>(
      'SELECT usename, pid FROM pg_stat_activity WHERE starts_with(usename, $1)',
      [target.rolePrefix],
    );
    return {
      liveRoles,
      liveLogins: logins
        .filter((l) => names.has(l.usename))
        .map((l) => `${l.usename} pid ${l.pid}`),
    };
  } finally {
    await t.end();
  }
}

/** How often each cell of a marker runbook started, from its marker file (`<cell>\n` per start). */
export function markerCounts(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return counts;
  }
  for (const line of text.split('\n')) {
    if (line !== '') counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return counts;
}

/**
 * Executions per cell that reached their kernel (every state but queued and
 * cancelled), and how many `cell.execution.requested` events each cell has: with a
 * marker file, what ran is compared with what was recorded first.
 */
export async function executionsByCell(
  dbUrl: string,
): Promise<{ reached: Map<string, number>; requested: Map<string, number> }> {
  const db = new Client({ connectionString: dbUrl });
  await db.connect();
  try {
    const reached = new Map<string, number>();
    const { rows } = await db.query<{ cell_id: string; n: string }>(
      `SELECT cell_id, count(*)::text AS n FROM executions
        WHERE state NOT IN ('queued', 'cancelled') GROUP BY cell_id`,
    );
    for (const r of rows) reached.set(r.cell_id, Number(r.n));
    const requested = new Map<string, number>();
    const { rows: req } = await db.query<{ cell: string; n: string }>(
      `SELECT body::jsonb -> 'cell' ->> 'id' AS cell, count(*)::text AS n FROM audit_events
        WHERE type = 'cell.execution.requested' GROUP BY 1`,
    );
    for (const r of req) requested.set(r.cell, Number(r.n));
    return { reached, requested };
  } finally {
    await db.end();
  }
}
