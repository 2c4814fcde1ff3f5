import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CasbinPolicy, PolicyLoadError } from './casbin-policy';

const shippedModel = resolve(__dirname, '..', '..', 'policies', 'model.conf');
const dirs: string[] = [];

/** A policy folder with the shipped model and the given policy lines. */
async function policyDir(policy: string, extra: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rungate-policy-'));
  dirs.push(dir);
  await writeFile(join(dir, 'model.conf'), await readFile(shippedModel, 'utf8'));
  await writeFile(join(dir, 'policy.csv'), policy);
  for (const [name, text] of Object.entries(extra)) await writeFile(join(dir, name), text);
  return dir;
}

async function loadError(dir: string): Promise<PolicyLoadError> {
  const err = await CasbinPolicy.load(dir).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof PolicyLoadError))
    throw new Error(`expected a PolicyLoadError, got ${String(err)}`);
  return err;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe(CasbinPolicy.name, () => {
  describe('load', () => {
    it('lists every malformed policy line', async () => {
      const dir = await policyDir(
        [
          'p, group:a, *, **, runbook:read',
          'p, group:a, *, **, runbook:write, allow',
          'p, group:a, *, **, runbook:read, maybe',
          'p, alice, *, **, runbook:read, allow',
          'P, group:a, *, **, runbook:read, allow',
          'g, user:bob, oncall',
          'p, group:a, *, "x", runbook:read, allow',
        ].join('\n'),
      );
      const err = await loadError(dir);
      expect(err.problems).toEqual([
        expect.stringMatching(/^policy.csv:7: quotes/),
        expect.stringMatching(/^policy.csv:1: expected .* \(got 4 values\)/),
        expect.stringMatching(/^policy.csv:2: unknown action "runbook:write"/),
        expect.stringMatching(/^policy.csv:3: effect must be allow or deny/),
        expect.stringMatching(/^policy.csv:4: subject must be/),
        expect.stringMatching(/^policy.csv:5: a line starts with "p" or "g"/),
        expect.stringMatching(/^policy.csv:6: "oncall" must be group:<name>/),
      ]);
    });

    it('refuses a model whose effect is not deny-overrides', async () => {
      const dir = await policyDir('p, group:a, *, **, runbook:read, allow\n');
      const model = (await readFile(join(dir, 'model.conf'), 'utf8')).replace(
        /^e = .*$/m,
        'e = some(where (p.eft == allow))',
      );
      await writeFile(join(dir, 'model.conf'), model);
      expect((await loadError(dir)).message).toMatch(/policy_effect must be/);
    });

    it('refuses a matcher that does not compile', async () => {
      const dir = await policyDir('p, group:a, *, **, runbook:read, allow\n');
      const model = (await readFile(join(dir, 'model.conf'), 'utf8')).replace(
        /^m = .*$/m,
        'm = hasSubject(r.sub, p.sub) &&',
      );
      await writeFile(join(dir, 'model.conf'), model);
      expect((await loadError(dir)).message).toMatch(/^model.conf: /);
    });

    it('reports a missing policy file', async () => {
      const dir = await policyDir('');
      await rm(join(dir, 'policy.csv'));
      expect((await loadError(dir)).message).toMatch(/policy.csv: missing/);
    });

    it('accepts an empty policy, which denies everything', async () => {
      const policy = await CasbinPolicy.load(await policyDir('# nothing yet\n'));
      expect(policy.check(['user:a'], 'prod', 'x', 'runbook:read')).toEqual({
        allowed: false,
        rule: null,
      });
      expect(policy.quorumFor('x', 'prod')).toEqual({ approvers: 1, rule: null });
    });
  });

  describe('subjectsOf', () => {
    it('adds the groups and, transitively, roles from g lines', async () => {
      const policy = await CasbinPolicy.load(
        await policyDir(
          [
            'g, user:bob, group:incident-commanders',
            'g, group:incident-commanders, group:oncall',
          ].join('\n'),
        ),
      );
      expect(policy.subjectsOf({ sub: 'bob', groups: ['approvers'] })).toEqual([
        'user:bob',
        'group:approvers',
        'group:incident-commanders',
        'group:oncall',
      ]);
    });
  });

  describe('check', () => {
    it('lets a deny line of one subject override an allow line of another', async () => {
      const policy = await CasbinPolicy.load(
        await policyDir(
          [
            'p, group:oncall, *, **, cell:execute, allow',
            'p, group:contractors, prod, shop/*, cell:execute, deny',
          ].join('\n'),
        ),
      );
      const subjects = ['user:erin', 'group:oncall', 'group:contractors'];
      expect(policy.check(subjects, 'prod', 'shop/orders', 'cell:execute')).toEqual({
        allowed: false,
        rule: ['group:contractors', 'prod', 'shop/*', 'cell:execute', 'deny'],
      });
      expect(policy.check(subjects, 'prod', 'db/lag', 'cell:execute')).toEqual({
        allowed: true,
        rule: ['group:oncall', '*', '**', 'cell:execute', 'allow'],
      });
      expect(
        policy.check(['user:erin', 'group:oncall'], 'prod', 'shop/orders', 'cell:execute').allowed,
      ).toBe(true);
    });
  });

  describe('checkAny', () => {
    it('finds an allow line not wholly covered by a deny line', async () => {
      const policy = await CasbinPolicy.load(
        await policyDir(
          [
            'p, group:a, prod, shop/*, runbook:read, allow',
            'p, group:a, *, **, audit:read, allow',
            'p, group:a, prod, **, runbook:read, deny',
            'p, group:b, prod, shop/orders, audit:read, deny',
          ].join('\n'),
        ),
      );
      expect(policy.checkAny(['group:a'], 'runbook:read')).toEqual({
        allowed: false,
        rule: ['group:a', 'prod', '**', 'runbook:read', 'deny'],
      });
      expect(policy.checkAny(['group:a', 'group:b'], 'audit:read').allowed).toBe(true);
      expect(policy.checkAny(['group:c'], 'audit:read')).toEqual({ allowed: false, rule: null });
    });
  });
});
