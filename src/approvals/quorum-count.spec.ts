import { describe, expect, it } from 'vitest';
import { countQuorum } from './quorum-count';

const grant = (sub: string, ...groups: string[]) => ({ sub, groups });

describe(countQuorum.name, () => {
  it('never counts the requester, whatever groups they hold', () => {
    const p = countQuorum({ approvers: 1, distinctGroups: [] }, 'alice', [
      grant('alice', 'approvers'),
    ]);
    expect(p).toEqual({ approvers: 0, needed: 1, missingGroups: [], met: false });
  });

  it('counts the same person once', () => {
    const p = countQuorum({ approvers: 2, distinctGroups: [] }, 'alice', [
      grant('bob'),
      grant('bob'),
    ]);
    expect(p.approvers).toBe(1);
    expect(p.met).toBe(false);
  });

  it('is met with enough distinct people', () => {
    const p = countQuorum({ approvers: 2, distinctGroups: [] }, 'alice', [
      grant('bob'),
      grant('dave'),
    ]);
    expect(p).toEqual({ approvers: 2, needed: 2, missingGroups: [], met: true });
  });

  it('needs a member of each required group', () => {
    const q = { approvers: 2, distinctGroups: ['dba', 'sre'] };
    const p = countQuorum(q, 'alice', [grant('bob', 'sre'), grant('dave', 'approvers')]);
    expect(p).toEqual({ approvers: 2, needed: 2, missingGroups: ['dba'], met: false });
    expect(
      countQuorum(q, 'alice', [
        grant('bob', 'sre'),
        grant('dave', 'approvers'),
        grant('erin', 'dba'),
      ]).met,
    ).toBe(true);
  });

  it('lets one person stand for one group only', () => {
    const q = { approvers: 2, distinctGroups: ['dba', 'sre'] };
    // bob is in both groups; with dave in neither, one group stays uncovered.
    const p = countQuorum(q, 'alice', [grant('bob', 'dba', 'sre'), grant('dave')]);
    expect(p.missingGroups).toHaveLength(1);
    expect(p.met).toBe(false);
  });

  it('finds the assignment that covers every group when one exists', () => {
    const q = { approvers: 2, distinctGroups: ['dba', 'sre'] };
    // Greedy would give bob to dba and leave sre to nobody; bob must take sre.
    const p = countQuorum(q, 'alice', [grant('bob', 'dba', 'sre'), grant('carl', 'dba')]);
    expect(p).toEqual({ approvers: 2, needed: 2, missingGroups: [], met: true });
  });

  it('does not count a group the requester alone holds', () => {
    const q = { approvers: 1, distinctGroups: ['dba'] };
    expect(
      countQuorum(q, 'alice', [grant('alice', 'dba'), grant('bob', 'sre')]).missingGroups,
    ).toEqual(['dba']);
  });

  it('needs at least as many people as required groups', () => {
    expect(countQuorum({ approvers: 1, distinctGroups: ['dba', 'sre'] }, 'x', []).needed).toBe(2);
  });
});
