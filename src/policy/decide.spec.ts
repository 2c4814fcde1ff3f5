import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasbinPolicy } from './casbin-policy';
import { decide, decideAny } from './decide';

const POLICY = [
  'p, group:oncall, *, **, session:read, allow',
  'p, group:oncall, *, **, approval:approve, allow',
  'p, group:audit, *, **, session:read, allow',
  'p, group:audit, *, **, session:read-any, allow',
  'p, group:audit, prod, secret/*, session:read-any, deny',
].join('\n');

describe(decide.name, () => {
  let dir: string;
  let policy: CasbinPolicy;
  const orders = { runbook: 'shop/orders', environment: 'prod' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-decide-'));
    const model = await readFile(resolve(__dirname, '..', '..', 'policies', 'model.conf'), 'utf8');
    await writeFile(join(dir, 'model.conf'), model);
    await writeFile(join(dir, 'policy.csv'), POLICY);
    policy = await CasbinPolicy.load(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('denies everything when no policy is loaded', () => {
    expect(
      decide(undefined, { sub: 'a', groups: ['oncall'] }, 'session:read', orders),
    ).toMatchObject({
      allowed: false,
      rule: null,
      reason: 'no policy loaded',
      policyLoadedAt: null,
    });
  });

  it("needs session:read-any for somebody else's session", () => {
    const alice = { sub: 'alice', groups: ['oncall'] };
    expect(decide(policy, alice, 'session:read', { ...orders, owner: 'alice' })).toMatchObject({
      allowed: true,
    });
    expect(decide(policy, alice, 'session:read', { ...orders, owner: 'bob' })).toMatchObject({
      allowed: false,
      rule: null,
      ownerRule: null,
      reason: expect.stringMatching(
        /^the session belongs to bob: no policy line allows session:read-any/,
      ),
    });
  });

  it('reports the deny line when session:read-any is denied', () => {
    const carol = { sub: 'carol', groups: ['audit'] };
    expect(decide(policy, carol, 'session:read', { ...orders, owner: 'bob' })).toMatchObject({
      allowed: true,
      ownerRule: ['group:audit', '*', '**', 'session:read-any', 'allow'],
    });
    const denied = ['group:audit', 'prod', 'secret/*', 'session:read-any', 'deny'];
    expect(
      decide(policy, carol, 'session:read', {
        runbook: 'secret/keys',
        environment: 'prod',
        owner: 'bob',
      }),
    ).toMatchObject({ allowed: false, rule: denied, ownerRule: denied });
  });

  it('ignores the owner for actions that are not about one session', () => {
    const bob = { sub: 'bob', groups: ['oncall'] };
    const decision = decide(policy, bob, 'approval:approve', { ...orders, owner: 'alice' });
    expect(decision).toMatchObject({ allowed: true, owner: 'alice' });
    expect(decision.ownerRule).toBeUndefined();
  });
});

describe(decideAny.name, () => {
  it('denies everything when no policy is loaded', () => {
    expect(decideAny(undefined, { sub: 'a', groups: [] }, 'audit:read')).toMatchObject({
      allowed: false,
      resource: '*',
      environment: '*',
    });
  });
});
