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
  'p, group:approvers, *, **, session:read, allow',
  'p, group:approvers, *, **, approval:approve, allow',
  'p, group:approvers, *, **, session:read-as-reviewer, allow',
  'p, group:approvers, prod, secret/*, session:read-as-reviewer, deny',
  'p, group:reviewless, *, **, session:read, allow',
  'p, group:reviewless, *, **, approval:approve, allow',
  'p, group:watchers, *, **, session:read, allow',
  'p, group:watchers, *, **, session:read-as-reviewer, allow',
  'p, group:watchers, *, **, cell:execute, allow',
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

describe('decide as a reviewer', () => {
  let dir: string;
  let policy: CasbinPolicy;
  const orders = { runbook: 'shop/orders', environment: 'prod', owner: 'alice' };
  const underReview = { ...orders, reviewing: [{ approval: 'a-1', requester: 'alice' }] };
  const dave = { sub: 'dave', groups: ['approvers'] };

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

  it('reads a session holding a request it may review, naming the line and the request', () => {
    expect(decide(policy, dave, 'session:read', underReview)).toMatchObject({
      allowed: true,
      rule: ['group:approvers', '*', '**', 'session:read', 'allow'],
      ownerRule: ['group:approvers', '*', '**', 'session:read-as-reviewer', 'allow'],
      reason: expect.stringContaining('holds approval request a-1'),
    });
  });

  it('does not read a session without a request in its window', () => {
    expect(decide(policy, dave, 'session:read', orders)).toMatchObject({
      allowed: false,
      reason: expect.stringMatching(/^the session belongs to alice: no policy line allows/),
    });
    expect(decide(policy, dave, 'session:read', { ...orders, reviewing: [] })).toMatchObject({
      allowed: false,
    });
  });

  it("does not count the caller's own request", () => {
    const own = { ...orders, reviewing: [{ approval: 'a-2', requester: 'dave' }] };
    expect(decide(policy, dave, 'session:read', own).allowed).toBe(false);
  });

  it('needs approval:approve as well as session:read-as-reviewer', () => {
    const watcher = { sub: 'walt', groups: ['watchers'] };
    expect(decide(policy, watcher, 'session:read', underReview)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('you may not review its approval request a-1'),
    });
    const reviewless = { sub: 'rita', groups: ['reviewless'] };
    expect(decide(policy, reviewless, 'session:read', underReview)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('no policy line allows session:read-as-reviewer'),
    });
  });

  it('lets a deny line on session:read-as-reviewer win', () => {
    const secret = { ...underReview, runbook: 'secret/keys' };
    expect(decide(policy, dave, 'session:read', secret)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining(
        'denied by "p, group:approvers, prod, secret/*, session:read-as-reviewer, deny"',
      ),
    });
  });

  it('opens reading only, never acting on the session', () => {
    const walt = { sub: 'walt', groups: ['watchers', 'approvers'] };
    expect(decide(policy, walt, 'session:read', underReview).allowed).toBe(true);
    expect(decide(policy, walt, 'cell:execute', underReview).allowed).toBe(false);
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
