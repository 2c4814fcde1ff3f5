import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Test } from '@nestjs/testing';
import type { INestApplicationContext } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Principal } from '../../src/auth/principal';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { CasbinPolicy } from '../../src/policy/casbin-policy';
import { PolicyHealthIndicator } from '../../src/policy/policy.health';
import { PolicyModule } from '../../src/policy/policy.module';
import { PolicyService } from '../../src/policy/policy.service';
import type { PolicyDecisionEvent, PolicyReloadEvent } from '../../src/policy/policy.types';
import { loadPolicyTable, POLICY_TESTS_FILE, runPolicyTable } from '../../src/policy/policy-table';

const root = resolve(__dirname, '..', '..');
const shipped = join(root, 'policies');

function person(sub: string, groups: string[]): Principal {
  return { sub, name: sub, groups };
}
const alice = person('alice', ['oncall']);
const bob = person('bob', ['oncall', 'approvers']);
const carol = person('carol', ['security']);
const mallory = person('mallory', []);

/** How long a test waits for a reload: a deadline for a hang, not a measure of how soon. */
const RELOAD_DEADLINE_MS = 15_000;

/** Resolves with the next reload event, or rejects after `ms`. */
function nextReload(service: PolicyService, ms: number): Promise<PolicyReloadEvent> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no policy reload within ${ms} ms`));
    }, ms);
    const off = service.onReload((event) => {
      clearTimeout(timer);
      off();
      resolvePromise(event);
    });
  });
}

/** A Nest context with PolicyModule over a private copy of the shipped policies. */
async function startPolicy(): Promise<{
  context: INestApplicationContext;
  service: PolicyService;
  dir: string;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'rungate-policy-'));
  await cp(shipped, dir, { recursive: true });
  const config = loadConfig({ NODE_ENV: 'test', RUNGATE_POLICY_DIR: dir }, root);
  const moduleRef = await Test.createTestingModule({
    imports: [ConfigModule.forRoot(config), PolicyModule],
  }).compile();
  const context = await moduleRef.init();
  return { context, service: context.get(PolicyService), dir };
}

describe(PolicyService.name, () => {
  let context: INestApplicationContext;
  let service: PolicyService;
  let dir: string;

  beforeAll(async () => {
    ({ context, service, dir } = await startPolicy());
  });
  afterAll(async () => {
    await context.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('shipped policy', () => {
    it('gives every decision in policies/tests.csv', async () => {
      const policy = await CasbinPolicy.load(shipped);
      const results = runPolicyTable(
        policy,
        await loadPolicyTable(join(shipped, POLICY_TESTS_FILE)),
      );
      expect(results.length).toBeGreaterThan(20);
      expect(
        results.filter((r) => !r.passed).map((r) => `line ${r.case.line}: ${r.decision.reason}`),
      ).toEqual([]);
    });
  });

  describe('authorize', () => {
    it('lets deny override allow and reports the deny line', () => {
      const erin = person('erin', ['oncall', 'contractors']);
      const decision = service.authorize(erin, 'cell:execute-mutating', {
        runbook: 'shop/orders',
        environment: 'prod',
      });
      expect(decision).toMatchObject({
        allowed: false,
        subjects: ['user:erin', 'group:oncall', 'group:contractors'],
        rule: ['group:contractors', 'prod', '**', 'cell:execute-mutating', 'deny'],
      });
      expect(
        service.authorize(erin, 'cell:execute-mutating', {
          runbook: 'shop/orders',
          environment: 'staging',
        }),
      ).toMatchObject({
        allowed: true,
        rule: ['group:oncall', '*', '**', 'cell:execute-mutating', 'allow'],
      });
    });

    it("refuses alice bob's session and lets carol read it through session:read-any", () => {
      const bobsSession = { runbook: 'shop/orders', environment: 'prod', owner: 'bob' };
      expect(
        service.authorize(alice, 'session:read', { ...bobsSession, owner: 'alice' }).allowed,
      ).toBe(true);
      const refused = service.authorize(alice, 'session:read', bobsSession);
      expect(refused).toMatchObject({ allowed: false, owner: 'bob', rule: null, ownerRule: null });
      expect(refused.reason).toMatch(/belongs to bob.*session:read-any/);
      expect(service.authorize(alice, 'cell:execute', bobsSession).allowed).toBe(false);
      expect(service.authorize(carol, 'session:read', bobsSession)).toMatchObject({
        allowed: true,
        rule: ['group:security', '*', '**', 'session:read', 'allow'],
        ownerRule: ['group:security', '*', '**', 'session:read-any', 'allow'],
      });
      // read-any does not lend carol actions she lacks.
      expect(service.authorize(carol, 'cell:execute', bobsSession).allowed).toBe(false);
    });

    it('tells listeners about every decision with its rule', () => {
      const events: PolicyDecisionEvent[] = [];
      const off = service.onDecision((e) => events.push(e));
      service.authorize(alice, 'runbook:read', { runbook: 'db/lag', environment: 'prod' });
      service.authorize(mallory, 'runbook:read', { runbook: 'db/lag', environment: 'prod' });
      off();
      service.authorize(alice, 'runbook:read', { runbook: 'db/lag', environment: 'prod' });
      expect(
        events.map((e) => [e.principal.sub, e.kind, e.decision.allowed, e.decision.rule]),
      ).toEqual([
        ['alice', 'authorize', true, ['group:oncall', '*', '**', 'runbook:read', 'allow']],
        ['mallory', 'authorize', false, null],
      ]);
      expect(events[1].decision.reason).toMatch(
        /no policy line allows runbook:read on db\/lag in prod/,
      );
    });

    it('keeps deciding when a listener throws', () => {
      const off = service.onDecision(() => {
        throw new Error('listener broke');
      });
      try {
        expect(
          service.authorize(alice, 'runbook:read', { runbook: 'db/lag', environment: 'prod' })
            .allowed,
        ).toBe(true);
      } finally {
        off();
      }
    });
  });

  describe('authorizeAny', () => {
    it('refuses mallory and allows alice to list runbooks', () => {
      expect(service.authorizeAny(mallory, 'runbook:read')).toMatchObject({
        allowed: false,
        rule: null,
      });
      expect(service.authorizeAny(alice, 'runbook:read')).toMatchObject({
        allowed: true,
        resource: '*',
        environment: '*',
        rule: ['group:oncall', '*', '**', 'runbook:read', 'allow'],
      });
      expect(service.authorizeAny(alice, 'audit:read').allowed).toBe(false);
    });
  });

  describe('filter', () => {
    it('keeps the sessions the principal may read', () => {
      const sessions = [
        { id: 's1', runbook: 'shop/orders', environment: 'prod', owner: 'alice' },
        { id: 's2', runbook: 'shop/orders', environment: 'prod', owner: 'bob' },
        {
          id: 's3',
          runbook: 'shop/orders',
          environment: 'prod',
          owner: 'alice',
          reviewing: [{ approval: 'a-1', requester: 'alice' }],
        },
      ];
      const ids = (p: Principal) =>
        service.filter(p, 'session:read', sessions, (s) => s).map((s) => s.id);
      expect(ids(alice)).toEqual(['s1', 's3']);
      // An approver reads somebody else's session only while it holds a request to review.
      expect(ids(bob)).toEqual(['s2', 's3']);
      expect(ids(mallory)).toEqual([]);
    });
  });

  describe('quorumFor', () => {
    it('asks two approvers in prod and one elsewhere', () => {
      expect(service.quorumFor('shop/orders', 'prod')).toEqual({
        approvers: 2,
        rule: ['prod', '**', '2'],
      });
      expect(service.quorumFor('shop/orders', 'staging')).toEqual({
        approvers: 1,
        rule: ['*', '**', '1'],
      });
    });
  });
});

describe(`${PolicyService.name} reload`, () => {
  let context: INestApplicationContext;
  let service: PolicyService;
  let dir: string;

  beforeAll(async () => {
    ({ context, service, dir } = await startPolicy());
  });
  afterAll(async () => {
    await context.close();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    // Put the shipped files back and wait until they are in force again, so the
    // next test's reload event is its own.
    const files = ['model.conf', 'policy.csv', 'approvals.csv'];
    const changed = await Promise.all(
      files.map(
        async (f) =>
          (await readFile(join(dir, f), 'utf8')) !== (await readFile(join(shipped, f), 'utf8')),
      ),
    );
    if (changed.some(Boolean) || !service.health().ok) {
      const reloaded = nextReload(service, RELOAD_DEADLINE_MS);
      await cp(shipped, dir, { recursive: true });
      expect((await reloaded).ok).toBe(true);
    }
  });

  const orders = { runbook: 'shop/orders', environment: 'prod' };

  it('applies an edited policy without a restart', async () => {
    expect(service.authorize(mallory, 'runbook:read', orders).allowed).toBe(false);
    const before = service.health().loadedAt;
    const reloaded = nextReload(service, RELOAD_DEADLINE_MS);
    const policy = await readFile(join(dir, 'policy.csv'), 'utf8');
    await writeFile(
      join(dir, 'policy.csv'),
      `${policy}\np, user:mallory, prod, shop/*, runbook:read, allow\n`,
    );
    expect(await reloaded).toMatchObject({ ok: true });
    expect(service.authorize(mallory, 'runbook:read', orders)).toMatchObject({
      allowed: true,
      rule: ['user:mallory', 'prod', 'shop/*', 'runbook:read', 'allow'],
    });
    expect(service.health().loadedAt).not.toBe(before);
  });

  it('applies an edited quorum without a restart', async () => {
    const reloaded = nextReload(service, RELOAD_DEADLINE_MS);
    await writeFile(join(dir, 'approvals.csv'), 'prod, db/**, 2, dba sre\n');
    expect((await reloaded).ok).toBe(true);
    expect(service.quorumFor('db/lag', 'prod')).toMatchObject({
      approvers: 2,
      distinctGroups: ['dba', 'sre'],
    });
    expect(service.quorumFor('shop/orders', 'prod')).toEqual({ approvers: 1, rule: null });
  });

  it('keeps the last good policy when a file breaks, and reports why', async () => {
    const health = context.get(PolicyHealthIndicator);
    expect(health.isHealthy('policy')).toMatchObject({ policy: { status: 'up' } });
    const good = service.health();
    const reloaded = nextReload(service, RELOAD_DEADLINE_MS);
    const policy = await readFile(join(dir, 'policy.csv'), 'utf8');
    await writeFile(
      join(dir, 'policy.csv'),
      `p, user:mallory, *, **, runbook:read, allow\n${policy}\np, group:oncall, *, **, session:start\n`,
    );
    const event = await reloaded;
    expect(event.ok).toBe(false);
    expect(event.error).toMatch(/policy.csv:\d+: expected "p, subject/);
    // The half-good file did not leak in: mallory still reads nothing, alice still starts sessions.
    expect(service.authorize(mallory, 'runbook:read', orders).allowed).toBe(false);
    expect(service.authorize(alice, 'session:start', orders).allowed).toBe(true);
    expect(service.health()).toMatchObject({
      ok: false,
      error: event.error,
      loadedAt: good.loadedAt,
      files: good.files,
    });
    expect(health.isHealthy('policy')).toMatchObject({
      policy: { status: 'down', error: event.error },
    });

    const fixed = nextReload(service, RELOAD_DEADLINE_MS);
    await writeFile(join(dir, 'policy.csv'), policy);
    expect(await fixed).toMatchObject({ ok: true });
    expect(service.health()).toMatchObject({ ok: true });
    expect(service.health().error).toBeUndefined();
  });
});
