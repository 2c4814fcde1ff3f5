import type { ApprovalQuorum, ApprovalReview } from './approvals.types';

/** A grant as counted: who, and the groups they held when granting. */
export interface Grant {
  readonly sub: string;
  readonly groups: readonly string[];
}

/** The grants among an approval's reviews, as {@link countQuorum} counts them. */
export function grantsOf(reviews: readonly ApprovalReview[]): Grant[] {
  return reviews
    .filter((r) => r.decision === 'approve')
    .map((r) => ({ sub: r.reviewer.sub, groups: r.reviewer.groups }));
}

/** How far a request is from its quorum. */
export interface QuorumProgress {
  /** Distinct people counted (the requester never is). */
  readonly approvers: number;
  /** Distinct people needed. */
  readonly needed: number;
  /** Required groups no counted approver can stand for yet. */
  readonly missingGroups: readonly string[];
  readonly met: boolean;
}

/**
 * Counts grants toward a quorum. The requester never counts (separation of duties,
 * whatever the policy says), the same person counts once, and a required group is
 * covered only by an approver who held that group when granting. Each approver
 * stands for at most one required group, so "one from dba, one from sre" needs two
 * people even if one of them is in both groups.
 */
export function countQuorum(
  quorum: Pick<ApprovalQuorum, 'approvers' | 'distinctGroups'>,
  requesterSub: string,
  grants: readonly Grant[],
): QuorumProgress {
  const people = new Map<string, Grant>();
  for (const g of grants) {
    if (g.sub === requesterSub || people.has(g.sub)) continue;
    people.set(g.sub, g);
  }
  const approvers = [...people.values()];
  const missingGroups = uncoveredGroups(quorum.distinctGroups, approvers);
  const needed = Math.max(quorum.approvers, quorum.distinctGroups.length);
  return {
    approvers: approvers.length,
    needed,
    missingGroups,
    met: approvers.length >= needed && missingGroups.length === 0,
  };
}

/**
 * The required groups left without an approver in a maximum matching of groups to
 * distinct approvers (augmenting paths; the sizes are tiny). Which groups are
 * reported among equally good matchings follows the order they are listed in.
 */
function uncoveredGroups(groups: readonly string[], approvers: readonly Grant[]): string[] {
  /** approver index → group index it stands for */
  const assignedTo = new Map<number, number>();
  const tryAssign = (group: number, seen: Set<number>): boolean => {
    for (let a = 0; a < approvers.length; a++) {
      if (seen.has(a) || !approvers[a].groups.includes(groups[group])) continue;
      seen.add(a);
      const current = assignedTo.get(a);
      if (current === undefined || tryAssign(current, seen)) {
        assignedTo.set(a, group);
        return true;
      }
    }
    return false;
  };
  const missing: string[] = [];
  groups.forEach((name, i) => {
    if (!tryAssign(i, new Set())) missing.push(name);
  });
  return missing;
}
