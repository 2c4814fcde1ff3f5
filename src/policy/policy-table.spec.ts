import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasbinPolicy } from './casbin-policy';
import { loadPolicyTable, runPolicyTable } from './policy-table';

describe(loadPolicyTable.name, () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-policy-table-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const table = async (text: string) => {
    const file = join(dir, 'tests.csv');
    await writeFile(file, text);
    return loadPolicyTable(file);
  };

  it('reads the requesters of requests under review, none for "-"', async () => {
    const cases = await table(
      [
        'dave, approvers, prod, shop/orders, session:read, allow, alice, alice bob',
        'dave, approvers, prod, shop/orders, session:read, deny, alice, -',
      ].join('\n'),
    );
    expect(cases[0].reviewing).toEqual(['alice', 'bob']);
    expect(cases[1].reviewing).toBeUndefined();
  });

  it('refuses requests under review without the session owner, and extra columns', async () => {
    await expect(
      table('dave, approvers, prod, shop/orders, session:read, allow, , alice'),
    ).rejects.toThrow(/need the session's owner/);
    await expect(
      table('dave, approvers, prod, shop/orders, session:read, allow, alice, alice, x'),
    ).rejects.toThrow(/expected "user, groups/);
  });

  it('decides a case as the gateway does, with the requests as facts', async () => {
    const policy = await CasbinPolicy.load(resolve(__dirname, '..', '..', 'policies'));
    const cases = await table(
      [
        'dave, approvers, prod, shop/orders, session:read, allow, alice, alice',
        'dave, approvers, prod, shop/orders, session:read, deny, alice',
      ].join('\n'),
    );
    expect(runPolicyTable(policy, cases).map((r) => r.passed)).toEqual([true, true]);
  });
});
