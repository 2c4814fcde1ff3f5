import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import { assertDecided } from './decided';
import type { Decision } from './policy.types';

const resource = { runbook: 'shop/orders', environment: 'prod', owner: 'ivan' };

function decision(over: Partial<Decision> = {}): Decision {
  return {
    allowed: true,
    action: 'breakglass',
    subjects: ['user:ivan', 'group:incident-commanders'],
    resource: 'shop/orders',
    environment: 'prod',
    owner: 'ivan',
    rule: ['group:incident-commanders', '*', '**', 'breakglass', 'allow'],
    reason: 'allowed',
    policyLoadedAt: null,
    ...over,
  };
}

describe(assertDecided.name, () => {
  it('hands on the decision the guard made for this action on this resource', () => {
    const d = decision();
    expect(assertDecided(d, 'breakglass', resource, 'ivan')).toBe(d);
  });

  it('answers 403 naming the rule when the decision was a refusal', () => {
    const refused = decision({ allowed: false, rule: null, reason: 'no rule allows it' });
    let err: unknown;
    try {
      assertDecided(refused, 'breakglass', resource, 'ivan');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RungateError);
    expect((err as RungateError).code).toBe(ErrorCode.Forbidden);
    expect((err as RungateError).extensions).toMatchObject({ action: 'breakglass', rule: null });
  });

  it('refuses loudly a missing decision or one about anything else (a wiring fault)', () => {
    const wrong: Array<[Decision | undefined, string]> = [
      [undefined, 'none'],
      [decision({ action: 'cell:execute-mutating' }), 'another action'],
      [decision({ resource: 'shop/refund' }), 'another runbook'],
      [decision({ environment: 'staging' }), 'another environment'],
      [decision({ owner: 'alice' }), "another owner's session"],
      [decision({ subjects: ['user:alice'] }), 'another person'],
    ];
    for (const [d, what] of wrong) {
      expect(() => assertDecided(d, 'breakglass', resource, 'ivan'), what).toThrowError(
        /no policy decision for breakglass/,
      );
      expect(() => assertDecided(d, 'breakglass', resource, 'ivan')).not.toThrowError(RungateError);
    }
  });
});
