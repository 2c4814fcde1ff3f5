import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { consumeUntil, type AuditMessage } from '../support/audit-reader';
import { startGateway, type Gateway } from '../support/gateway';
import { uniqueTopic } from '../support/kafka';
import { notebook, runbooksDir } from '../support/notebooks';
import { createOrdersTarget, writeOrdersTargetsFile } from '../support/pg-target';
import { createDatabase } from '../support/postgres';
import { SseReader, type SseEvent } from '../support/sse';

const REDACTED = '[REDACTED]';

/** The password of the session's own minted role, read from the kernel's environment. */
const PASSWORD = [
  'import os, sys, time, urllib.parse',
  'pw = urllib.parse.unquote(urllib.parse.urlsplit(os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"]).password)',
].join('\n');

/**
 * Cells that print the exact credential the gateway minted for their session: a random
 * password with no shape any pattern knows, so only redaction by value can hide it.
 * `reveal` hands the test the password reversed (which nothing redacts) so the test
 * knows what to look for.
 */
const SECRETS = notebook({
  title: 'Prints its own credential (test)',
  targets: ['orders-db'],
  environment: 'prod',
  cells: [
    {
      id: 'reveal',
      source: `${PASSWORD}\nrole = urllib.parse.urlsplit(os.environ["RUNGATE_TARGET_ORDERS_DB_DSN"]).username\nprint(role + " " + pw[::-1])`,
    },
    { id: 'bare', source: `${PASSWORD}\nprint(pw)` },
    {
      // Two flushed writes: two iopub stream messages, the secret cut between them.
      id: 'split',
      source: `${PASSWORD}\nsys.stdout.write("before:" + pw[:20]); sys.stdout.flush()\ntime.sleep(0.3)\nsys.stdout.write(pw[20:] + ":after\\n"); sys.stdout.flush()`,
    },
    {
      id: 'embedded',
      source: `${PASSWORD}\nprint(f"abc{pw}def and more")\nprint(f"<{pw}>", file=sys.stderr)`,
    },
    { id: 'result', source: `${PASSWORD}\npw` },
    { id: 'raise', source: `${PASSWORD}\nraise RuntimeError(f"bad {pw}")` },
  ],
});

const CELLS = ['bare', 'split', 'embedded', 'result', 'raise'] as const;

describe('redaction of the exact credentials the gateway minted', () => {
  const prefix = 'e2e_redact';
  let gw: Gateway;
  let runbooks: string;
  let conf: string;
  let target: { url: string };
  let dbUrl: string;
  let topic: string;
  let token: string;

  beforeAll(async () => {
    const admin = inject('postgresUrl');
    target = await createOrdersTarget(admin, prefix);
    runbooks = runbooksDir({ 'test/secrets': SECRETS });
    conf = mkdtempSync(join(tmpdir(), 'rungate-redaction-'));
    writeOrdersTargetsFile(conf, prefix);
    dbUrl = await createDatabase(admin, 'e2e_redaction');
    topic = uniqueTopic('redaction-e2e');
    gw = await startGateway({
      env: {
        DATABASE_URL: dbUrl,
        KAFKA_BROKERS: inject('kafkaBrokers'),
        RUNGATE_AUDIT_TOPIC: topic,
        RUNGATE_AUDIT_RELAY_POLL_INTERVAL: '0.2',
        // Completions then carry the outputs themselves: the audit trail holds what was printed.
        RUNGATE_AUDIT_RECORD_OUTPUTS: 'true',
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_TARGETS_FILE: join(conf, 'targets.yaml'),
        RUNGATE_TARGET_ROLE_PREFIX: 'rgredact_',
        ORDERS_DB_ADMIN_URL: target.url,
      },
    });
    token = await gw.token('alice');
  });

  afterAll(async () => {
    await gw?.stop();
    if (runbooks) rmSync(runbooks, { recursive: true, force: true });
    if (conf) rmSync(conf, { recursive: true, force: true });
  });

  it('hides it in the API, the live stream and the audit trail, however it is printed', async () => {
    const s = await gw.api('/v1/sessions', {
      token,
      body: { runbook: 'test/secrets', reason: 'redaction e2e' },
    });
    expect(s.status, JSON.stringify(s.body)).toBe(201);
    const session: string = s.body.id;
    const sse = await SseReader.open(`${gw.url}/v1/sessions/${session}/stream`, token);
    const exec = (cell: string) =>
      gw.api(`/v1/sessions/${session}/cells/${cell}/execute`, { token, method: 'POST' });

    // The password, learnt reversed, is the minted credential itself: it logs in as the role.
    const reveal = await exec('reveal');
    expect(reveal.body.status, JSON.stringify(reveal.body)).toBe('ok');
    const [role, reversed] = (reveal.body.outputs[0].text as string).trim().split(' ');
    const password = [...reversed].reverse().join('');
    expect(role).toMatch(/^rgredact_ro_[0-9a-f]{16}$/);
    expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const asRole = new URL(target.url);
    asRole.username = role;
    asRole.password = password;
    const login = new Client({ connectionString: asRole.toString() });
    await login.connect();
    try {
      expect((await login.query('SELECT current_user AS u')).rows[0].u).toBe(role);
    } finally {
      await login.end();
    }
    // Any recognisable piece of it; a generic pattern would not find even the whole.
    const pieces = [password, password.slice(0, 12), password.slice(20, 32)];
    const leaks = (text: string) => pieces.filter((p) => text.includes(p));

    // The API: the answer to each execution, and the execution as stored.
    const answers: Record<string, { id: string; outputs: unknown[]; error: unknown }> = {};
    for (const cell of CELLS) {
      const r = await exec(cell);
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      answers[cell] = r.body;
      expect(leaks(JSON.stringify(r.body)), cell).toEqual([]);
      const stored = await gw.api(`/v1/sessions/${session}/executions/${r.body.id}`, { token });
      expect(stored.status).toBe(200);
      expect(leaks(JSON.stringify(stored.body)), cell).toEqual([]);
    }
    expect(answers.bare.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: `${REDACTED}\n` },
    ]);
    expect(answers.split.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: `before:${REDACTED}:after\n` },
    ]);
    expect(answers.embedded.outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: `abc${REDACTED}def and more\n` },
      { output_type: 'stream', name: 'stderr', text: `<${REDACTED}>\n` },
    ]);
    expect(answers.result.outputs).toMatchObject([
      { output_type: 'execute_result', data: { 'text/plain': `'${REDACTED}'` } },
    ]);
    expect(answers.raise.error).toMatchObject({ ename: 'RuntimeError', evalue: `bad ${REDACTED}` });
    const whole = await gw.api(`/v1/sessions/${session}`, { token });
    expect(leaks(JSON.stringify(whole.body))).toEqual([]);

    // The live stream: every event, the split cell's two writes included.
    const last = answers.raise.id;
    await sse.waitFor(
      (e) =>
        e.event === 'execution.finished' && (e.data as { execution: string }).execution === last,
      30_000,
      'the last execution to finish on the stream',
    );
    await sse.close();
    const streamed = sse.events.map((e: SseEvent) => JSON.stringify(e.data)).join('\n');
    expect(leaks(streamed)).toEqual([]);
    const splitOutputs = sse.events
      .filter(
        (e) =>
          e.event === 'execution.output' &&
          (e.data as { execution: string }).execution === answers.split.id,
      )
      .map((e) => (e.data as { output: { text: string } }).output.text);
    // It did arrive in two pieces; each piece was shown only once nothing of the secret remained.
    expect(splitOutputs).toEqual(['before:', `${REDACTED}:after\n`]);
    expect(streamed).toContain(`abc${REDACTED}def`);

    expect((await gw.api(`/v1/sessions/${session}`, { token, method: 'DELETE' })).status).toBe(200);

    // The audit trail: the API, the outbox in the database, and Kafka.
    const carol = await gw.token('carol');
    const events: unknown[] = [];
    let cursor: string | null = null;
    do {
      const q = `/v1/audit/events?session=${session}&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page = await gw.api(q, { token: carol });
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      events.push(...(page.body.events as unknown[]));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    const trail = JSON.stringify(events);
    expect(leaks(trail)).toEqual([]);
    // The completions carry the outputs, redacted: the check above looked at them.
    expect(trail).toContain(`before:${REDACTED}:after`);
    expect(trail).toContain(`bad ${REDACTED}`);

    const db = new Client({ connectionString: dbUrl });
    await db.connect();
    try {
      const rows = await db.query<{ body: string }>(
        'SELECT body FROM audit_events WHERE session_id = $1',
        [session],
      );
      expect(rows.rowCount).toBe(events.length);
      expect(leaks(rows.rows.map((r) => r.body).join('\n'))).toEqual([]);
      // Nothing else the gateway stored about the session holds it either.
      const dump = await db.query<{ t: string }>(
        `SELECT (SELECT coalesce(string_agg(to_jsonb(e)::text, ' '), '')
                   FROM executions e WHERE e.session_id = $1)
             || (SELECT to_jsonb(s)::text FROM sessions s WHERE s.id = $1) AS t`,
        [session],
      );
      expect(dump.rows[0].t).toContain(`abc${REDACTED}def`);
      expect(leaks(dump.rows[0].t)).toEqual([]);
    } finally {
      await db.end();
    }

    const published = await consumeUntil(inject('kafkaBrokers'), topic, (ms: AuditMessage[]) =>
      ms.some((m) => m.key === session && m.event?.type === 'session.ended'),
    );
    const mine = published.filter((m) => m.key === session);
    expect(mine.length).toBeGreaterThanOrEqual(events.length);
    expect(leaks(JSON.stringify(mine))).toEqual([]);

    // Nor does the gateway's own log.
    expect(leaks(gw.output())).toEqual([]);
  });
});
