import { describe, expect, it } from 'vitest';
import { readCsv } from './csv';
import { DEFAULT_QUORUM, parseQuorumRules, selectQuorum } from './quorum';

function rules(text: string) {
  const { rows } = readCsv(text, 'approvals.csv');
  return parseQuorumRules(rows, 'approvals.csv');
}

describe(selectQuorum.name, () => {
  const parsed = rules(
    ['*, **, 1', 'prod, **, 2', 'prod, db/**, 2, dba sre', 'prod, shop/refund, 1'].join('\n'),
  );

  it('defaults to one approver when no line matches', () => {
    expect(selectQuorum([], 'shop/orders', 'prod')).toEqual(DEFAULT_QUORUM);
    expect(selectQuorum(rules('prod, **, 2').rules, 'shop/orders', 'staging')).toEqual({
      approvers: 1,
      rule: null,
    });
  });

  it('applies the line for the environment', () => {
    expect(selectQuorum(parsed.rules, 'shop/orders', 'prod')).toEqual({
      approvers: 2,
      rule: ['prod', '**', '2'],
    });
    expect(selectQuorum(parsed.rules, 'shop/orders', 'staging')).toEqual({
      approvers: 1,
      rule: ['*', '**', '1'],
    });
  });

  it('prefers the line with distinct groups when the counts tie', () => {
    expect(selectQuorum(parsed.rules, 'db/replication-lag', 'prod')).toEqual({
      approvers: 2,
      distinctGroups: ['dba', 'sre'],
      rule: ['prod', 'db/**', '2', 'dba sre'],
    });
  });

  it('never lets a narrower line weaken a stricter one', () => {
    expect(selectQuorum(parsed.rules, 'shop/refund', 'prod').approvers).toBe(2);
  });
});

describe(parseQuorumRules.name, () => {
  it('raises the count to the number of required groups', () => {
    expect(rules('prod, **, 1, dba sre group:net').rules[0]).toMatchObject({
      approvers: 3,
      distinctGroups: ['dba', 'sre', 'net'],
    });
  });

  it('reports every bad line', () => {
    const { problems } = rules(
      ['prod, **', 'prod, **, zero', 'prod, **, 0', 'prod, **, 2, dba dba'].join('\n'),
    );
    expect(problems).toEqual([
      expect.stringContaining('approvals.csv:1: expected'),
      expect.stringContaining('approvals.csv:2: approvers must be'),
      expect.stringContaining('approvals.csv:3: approvers must be'),
      expect.stringContaining('approvals.csv:4: a group is listed twice'),
    ]);
  });
});
