import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical-json';
import type { ApprovalRecord, ApprovalRefusal } from './approvals.types';

/**
 * sha256 (hex) of the canonical JSON (RFC 8785 rules) of a parameter set: the same
 * values give the same hash whatever the order of their keys.
 */
export function parametersSha256(values: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(values), 'utf8').digest('hex');
}

/** What an execution is about to run, compared with what was approved. */
export interface BindingProbe {
  readonly cellSha256: string;
  readonly parametersHash: string;
  readonly targets: readonly string[];
  readonly environment: string;
}

/**
 * The first way `probe` differs from what `approval` was granted for, or undefined
 * when it is exactly that. Code first: a changed cell is the change approvers most
 * need to see again.
 */
export function bindingMismatch(
  approval: Pick<ApprovalRecord, 'cell' | 'parameters' | 'targets' | 'environment'>,
  probe: BindingProbe,
): { reason: ApprovalRefusal; detail: string } | undefined {
  if (approval.cell.sha256 !== probe.cellSha256) {
    return {
      reason: 'code_changed',
      detail: `the cell's code changed since it was approved (approved sha256 ${approval.cell.sha256}, now ${probe.cellSha256})`,
    };
  }
  if (approval.parameters.sha256 !== probe.parametersHash) {
    return {
      reason: 'parameters_changed',
      detail: `the session's parameters differ from the approved ones (approved sha256 ${approval.parameters.sha256}, now ${probe.parametersHash})`,
    };
  }
  if (approval.environment !== probe.environment || !sameSet(approval.targets, probe.targets)) {
    return {
      reason: 'target_changed',
      detail: `approved for ${describeTargets(approval.targets, approval.environment)}, now ${describeTargets(probe.targets, probe.environment)}`,
    };
  }
  return undefined;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = [...new Set(a)].sort();
  const y = [...new Set(b)].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function describeTargets(targets: readonly string[], environment: string): string {
  return `${targets.length > 0 ? targets.join(', ') : 'no target'} in ${environment}`;
}
