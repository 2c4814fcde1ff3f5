import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ROOT, startGateway, type Gateway } from '../support/gateway';
import { waitFor } from '../support/net';
import { DIAGNOSTICS, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';

function b64url(v: string | Buffer): string {
  return Buffer.from(v).toString('base64url');
}

describe('identity and policy over HTTP', () => {
  let gw: Gateway;
  let runbooks: string;
  let policies: string;

  beforeAll(async () => {
    runbooks = runbooksDir({ 'test/diagnostics': DIAGNOSTICS });
    policies = mkdtempSync(join(tmpdir(), 'rungate-policies-'));
    cpSync(join(ROOT, 'policies'), policies, { recursive: true });
    gw = await startGateway({
      env: {
        DATABASE_URL: await createDatabase(inject('postgresUrl'), 'e2e_identity'),
        RUNGATE_RUNBOOKS_DIR: runbooks,
        RUNGATE_POLICY_DIR: policies,
      },
    });
  });

  afterAll(async () => {
    await gw?.stop();
    rmSync(runbooks, { recursive: true, force: true });
    rmSync(policies, { recursive: true, force: true });
  });

  const start = (token: string | undefined, runbook = 'test/diagnostics') =>
    gw.api('/v1/sessions', { token, body: { runbook, reason: 'identity e2e' } });

  it('refuses every call without a valid token with a 401 problem', async () => {
    const alice = await gw.token('alice');
    const [h, p] = alice.split('.');
    const tampered = `${h}.${p}.${b64url('not the signature')}`;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const algNone = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}.`;
    const otherAudience = `${h}.${b64url(JSON.stringify({ ...claims, aud: 'urn:other' }))}.${alice.split('.')[2]}`;
    for (const token of [undefined, 'garbage', tampered, algNone, otherAudience]) {
      for (const res of [await gw.api('/v1/runbooks', { token }), await start(token)]) {
        expect(res.status, `token ${String(token).slice(0, 20)}`).toBe(401);
        expect(res.headers.get('content-type')).toContain('application/problem+json');
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(res.body.code).toBe('unauthenticated');
      }
    }
  });

  it('gives mallory nothing: no runbook listed, no session started', async () => {
    const mallory = await gw.token('mallory');
    const list = await gw.api('/v1/runbooks', { token: mallory });
    expect(list.status).toBe(403);
    expect(list.body.code).toBe('forbidden');
    const s = await start(mallory);
    expect(s.status).toBe(403);
  });

  it("lets carol read but not start sessions, and keeps alice out of bob's session", async () => {
    const carol = await gw.token('carol');
    expect((await gw.api('/v1/runbooks', { token: carol })).status).toBe(200);
    const refused = await start(carol);
    expect(refused.status).toBe(403);
    expect(refused.body.action).toBe('session:start');

    const bobs = await start(await gw.token('bob'));
    expect(bobs.status).toBe(201);
    const peek = await gw.api(`/v1/sessions/${bobs.body.id}`, { token: await gw.token('alice') });
    expect(peek.status).toBe(403);
    expect(peek.body.action).toBe('session:read');
    const audit = await gw.api(`/v1/sessions/${bobs.body.id}`, { token: carol });
    expect(audit.status).toBe(200);
    expect(audit.body.owner.sub).toBe('bob');

    // Both refusals are in the audit trail, each with what it was evaluated as and why.
    const decisions = await waitFor('the decisions to be recorded', async () => {
      const r = await gw.api('/v1/audit/events?type=policy.decision&limit=1000', { token: carol });
      const denies = r.body.events.filter(
        (e: { decision: { effect: string; action: string }; actor: { sub: string } }) =>
          e.decision.effect === 'deny' &&
          ((e.actor.sub === 'carol' && e.decision.action === 'session:start') ||
            (e.actor.sub === 'alice' && e.decision.action === 'session:read')),
      );
      return denies.length >= 2 ? denies : undefined;
    });
    for (const d of decisions) {
      expect(d.decision.subjects.length).toBeGreaterThan(0);
      expect(d.decision.reason.length).toBeGreaterThan(0);
      expect(d.decision).toHaveProperty('rule');
    }
    const aliceDeny = decisions.find((d: { actor: { sub: string } }) => d.actor.sub === 'alice');
    expect(aliceDeny.decision.owner).toBe('bob');
  });

  it('shows the rules in force to those with policy:read only', async () => {
    const carol = await gw.api('/v1/policy', { token: await gw.token('carol') });
    expect(carol.status).toBe(200);
    expect(carol.body.ok).toBe(true);
    expect(carol.body.rules).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          subject: 'group:oncall',
          action: 'session:start',
          effect: 'allow',
        }),
      ]),
    );
    expect((await gw.api('/v1/policy', { token: await gw.token('alice') })).status).toBe(403);
  });

  it('applies a policy change on disk without a restart', async () => {
    const alice = await gw.token('alice');
    expect((await start(alice)).status).toBe(201);
    appendFileSync(join(policies, 'policy.csv'), '\np, user:alice, *, **, session:start, deny\n');
    const refused = await waitFor(
      'alice to be refused',
      async () => {
        const r = await start(alice);
        return r.status === 403 ? r : undefined;
      },
      // A deadline for a hang, not a measure: the watcher's interval is a unit of its own.
      15_000,
    );
    expect(refused.body.rule).toEqual(
      expect.arrayContaining(['user:alice', 'session:start', 'deny']),
    );
  });

  it('keeps the last good policy when a file breaks, and /readyz says why', async () => {
    const alice = await gw.token('alice');
    const good = readFileSync(join(policies, 'policy.csv'), 'utf8');
    writeFileSync(
      join(policies, 'policy.csv'),
      `${good}\np, group:oncall, *, **, no-such-action, allow\n`,
    );
    const ready = await waitFor(
      'readiness to report the broken policy',
      async () => {
        const r = await gw.api('/readyz');
        return r.body?.info?.policy?.degraded ? r : undefined;
      },
      5000,
    );
    expect(ready.body.info.policy.error).toMatch(/no-such-action/);
    // The previous policy is still in force: alice is still refused, bob may still start.
    expect((await start(alice)).status).toBe(403);
    expect((await start(await gw.token('bob'))).status).toBe(201);
  });
});
