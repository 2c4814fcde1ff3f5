import { describe, expect, it } from 'vitest';
import { bindingMismatch, parametersSha256 } from './binding';

const approved = {
  cell: { id: 'c', index: 3, sha256: 'a'.repeat(64) },
  parameters: { values: { order: 'A-1' }, sha256: parametersSha256({ order: 'A-1' }) },
  targets: ['shop-db', 'shop-api'],
  environment: 'prod',
};
const probe = {
  cellSha256: 'a'.repeat(64),
  parametersHash: parametersSha256({ order: 'A-1' }),
  targets: ['shop-api', 'shop-db'],
  environment: 'prod',
};

describe(parametersSha256.name, () => {
  it('does not depend on key order', () => {
    expect(parametersSha256({ a: 1, b: [1, 2] })).toBe(parametersSha256({ b: [1, 2], a: 1 }));
  });

  it('changes with any value', () => {
    expect(parametersSha256({ a: 1 })).not.toBe(parametersSha256({ a: '1' }));
  });
});

describe(bindingMismatch.name, () => {
  it('accepts exactly what was approved (targets in any order)', () => {
    expect(bindingMismatch(approved, probe)).toBeUndefined();
  });

  it('names the first difference', () => {
    expect(bindingMismatch(approved, { ...probe, cellSha256: 'b'.repeat(64) })?.reason).toBe(
      'code_changed',
    );
    expect(
      bindingMismatch(approved, { ...probe, parametersHash: parametersSha256({ order: 'A-2' }) })
        ?.reason,
    ).toBe('parameters_changed');
    expect(bindingMismatch(approved, { ...probe, targets: ['shop-db'] })?.reason).toBe(
      'target_changed',
    );
    expect(bindingMismatch(approved, { ...probe, environment: 'staging' })?.reason).toBe(
      'target_changed',
    );
  });
});
