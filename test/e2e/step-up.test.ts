import { generateKeyPairSync, randomUUID, type JsonWebKey } from 'node:crypto';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, importJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newConfigHome, runCli } from '../support/cli';
import { ROOT, removeDataDir, startGateway, type Gateway } from '../support/gateway';
import { startTestIssuer, type TestIssuer } from '../support/oidc';

/*
 * Step-up for decisions: approving, denying and breaking glass need a sign-in within
 * RUNGATE_STEP_UP_MAX_AGE_SECONDS (`auth_time` of the token). The gateway trusts an
 * issuer whose signing key the test holds, so it can present tokens that are valid in
 * every other way but whose person signed in long ago.
 */
const PEOPLE = {
  bob: { groups: ['oncall', 'approvers'] },
  dave: { groups: ['approvers'] },
} as const;

describe('step-up for decisions', () => {
  let issuer: TestIssuer;
  let gw: Gateway;
  let policyDir: string;
  let signingKey: JsonWebKey;

  /** A token of `person` for the gateway, signed by the trusted issuer, with the given auth_time. */
  async function tokenSignedInAt(
    person: keyof typeof PEOPLE,
    authTime: number | undefined,
  ): Promise<string> {
    const key = await importJWK(signingKey, 'RS256');
    return new SignJWT({
      preferred_username: person,
      groups: [...PEOPLE[person].groups],
      client_id: `demo-${person}`,
      ...(authTime !== undefined && { auth_time: authTime }),
    })
      .setProtectedHeader({ alg: 'RS256', kid: String(signingKey.kid), typ: 'at+jwt' })
      .setIssuer(issuer.issuer)
      .setAudience('urn:rungate')
      .setSubject(person)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key);
  }
  const hourAgo = () => Math.floor(Date.now() / 1000) - 3600;

  async function pendingApproval(): Promise<string> {
    const alice = await issuer.tokenFor('alice');
    const session = await gw.api('/v1/sessions', {
      token: alice,
      body: { runbook: 'shop/stuck-jobs', reason: 'step-up test' },
    });
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    const requested = await gw.api('/v1/approvals', {
      token: alice,
      body: { session: session.body.id, cell: 'retry', reason: 'jobs stuck' },
    });
    expect(requested.status, JSON.stringify(requested.body)).toBe(201);
    return requested.body.approval.id as string;
  }

  beforeAll(async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    signingKey = {
      ...privateKey.export({ format: 'jwk' }),
      kid: 'step-up-test',
      alg: 'RS256',
      use: 'sig',
    };
    issuer = await startTestIssuer({ signingKeys: [signingKey] });
    // Bob may break glass in this gateway.
    policyDir = mkdtempSync(join(tmpdir(), 'rungate-step-up-policy-'));
    cpSync(join(ROOT, 'policies'), policyDir, { recursive: true });
    appendFileSync(join(policyDir, 'policy.csv'), '\ng, user:bob, group:incident-commanders\n');
    gw = await startGateway({
      env: {
        OIDC_ISSUER: issuer.issuer,
        RUNGATE_POLICY_DIR: policyDir,
        RUNGATE_POLICY_WATCH: 'false',
      },
    });
  });
  afterAll(async () => {
    await gw?.stop();
    if (gw) removeDataDir(gw.dataDir);
    await issuer?.stop();
    rmSync(policyDir, { recursive: true, force: true });
  });

  it('refuses to approve with a sign-in older than the window, and approves with a fresh one', async () => {
    const id = await pendingApproval();
    const stale = await gw.api(`/v1/approvals/${id}/approve`, {
      token: await tokenSignedInAt('bob', hourAgo()),
      body: { comment: 'ok' },
    });
    expect(stale.status).toBe(401);
    expect(stale.body).toMatchObject({
      code: 'step_up_required',
      details: { maxAgeSeconds: 900 },
      detail: expect.stringContaining('rungate login'),
    });
    expect(stale.headers.get('www-authenticate')).toMatch(
      /error="insufficient_user_authentication".*max_age=900/,
    );
    const unknown = await gw.api(`/v1/approvals/${id}/approve`, {
      token: await tokenSignedInAt('bob', undefined),
      body: { comment: 'ok' },
    });
    expect(unknown.status).toBe(401);
    expect(unknown.body.code).toBe('step_up_required');

    const fresh = await gw.api(`/v1/approvals/${id}/approve`, {
      token: await tokenSignedInAt('bob', Math.floor(Date.now() / 1000) - 5),
      body: { comment: 'ok' },
    });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    expect(fresh.body.progress.approvers).toBe(1);
  });

  it('refuses to deny with an old sign-in, and denies with a fresh one', async () => {
    const id = await pendingApproval();
    const stale = await gw.api(`/v1/approvals/${id}/deny`, {
      token: await tokenSignedInAt('dave', hourAgo()),
      body: { comment: 'no' },
    });
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe('step_up_required');
    // Nothing was recorded: the request still waits for its reviews.
    const view = await gw.api(`/v1/approvals/${id}`, { token: await issuer.tokenFor('dave') });
    expect(view.body.approval.state).toBe('pending');

    const fresh = await gw.api(`/v1/approvals/${id}/deny`, {
      token: await issuer.tokenFor('dave'),
      body: { comment: 'no' },
    });
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    expect(fresh.body.approval.state).toBe('denied');
  });

  it('refuses to break glass with an old sign-in, and breaks it with a fresh one', async () => {
    const fresh = await issuer.tokenFor('bob');
    const session = await gw.api('/v1/sessions', {
      token: fresh,
      body: { runbook: 'shop/stuck-jobs', reason: 'break-glass step-up test' },
    });
    expect(session.status, JSON.stringify(session.body)).toBe(201);
    const id = session.body.id as string;
    const ran = await gw.api(`/v1/sessions/${id}/run`, { token: fresh, method: 'POST' });
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    expect(ran.body.stoppedBefore).toBe('retry');
    const breakGlass = { breakGlass: { reason: 'payments down, approvers unreachable' } };

    const stale = await gw.api(`/v1/sessions/${id}/cells/retry/execute`, {
      token: await tokenSignedInAt('bob', hourAgo()),
      body: breakGlass,
    });
    expect(stale.status).toBe(401);
    expect(stale.body.code).toBe('step_up_required');

    const broken = await gw.api(`/v1/sessions/${id}/cells/retry/execute`, {
      token: fresh,
      body: breakGlass,
    });
    expect(broken.status, JSON.stringify(broken.body)).toBe(200);
    expect(broken.body.status).toBe('ok');
  });

  it('has rungate deny say to sign in again (exit 3) when the sign-in is too old', async () => {
    const id = await pendingApproval();
    const home = newConfigHome();
    try {
      mkdirSync(join(home, 'rungate'), { mode: 0o700 });
      writeFileSync(
        join(home, 'rungate', 'credentials.json'),
        JSON.stringify({
          version: 1,
          gateways: {
            [gw.url]: {
              issuer: issuer.issuer,
              clientId: 'rungate-cli',
              accessToken: await tokenSignedInAt('dave', hourAgo()),
              expiresAt: Date.now() + 600_000,
            },
          },
        }),
        { mode: 0o600 },
      );
      const out = await runCli(['deny', id, '--comment', 'no'], {
        gateway: gw.url,
        configHome: home,
      }).done;
      expect(out.code).toBe(3);
      expect(out.stderr).toContain('rungate login');
      expect(out.stderr).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
