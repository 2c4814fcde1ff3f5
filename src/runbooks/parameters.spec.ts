import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import {
  buildParameterSpec,
  ParameterDefinitionError,
  renderParametersCell,
  validateParameters,
} from './parameters';

const SOURCE = [
  'order_id = ""  # order to inspect',
  'customer_email = None',
  'lookback_minutes = 60',
  'threshold = 0.5',
  'include_refunds = True',
  'services = ["api"]',
].join('\n');

function runbookWith(source = SOURCE, declared?: unknown) {
  return { id: 'shop/order-lookup', parameters: buildParameterSpec('params', source, declared) };
}

function problems(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RungateError);
    expect((err as RungateError).code).toBe(ErrorCode.InvalidRequest);
    return (err as RungateError).extensions.errors;
  }
  throw new Error('expected a RungateError');
}

describe('buildParameterSpec', () => {
  it('infers types from defaults and descriptions from comments', () => {
    const spec = buildParameterSpec('params', SOURCE, undefined);
    expect(spec.schema.properties).toEqual({
      order_id: { type: 'string', description: 'order to inspect' },
      customer_email: {},
      lookback_minutes: { type: 'integer' },
      threshold: { type: 'number' },
      include_refunds: { type: 'boolean' },
      services: { type: 'array' },
    });
  });

  it('lets metadata.rungate.parameters refine the schema', () => {
    const spec = buildParameterSpec('params', SOURCE, {
      properties: {
        customer_email: { type: 'string', format: 'email' },
        lookback_minutes: { minimum: 1, maximum: 1440 },
      },
      required: ['customer_email'],
    });
    expect(spec.schema.properties).toMatchObject({
      customer_email: { type: 'string', format: 'email' },
      lookback_minutes: { type: 'integer', minimum: 1, maximum: 1440 },
    });
    expect(spec.schema.required).toEqual(['customer_email']);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'a property without a default',
      { properties: { nope: { type: 'string' } } },
      /properties.nope has no default/,
    ],
    [
      'a default that breaks the schema',
      { properties: { lookback_minutes: { maximum: 10 } } },
      /parameter lookback_minutes: default 60 does not match/,
    ],
    [
      'a broken schema',
      { properties: { order_id: { type: 'strung' } } },
      /not a valid JSON Schema/,
    ],
    ['a non-object', ['x'], /must be a JSON Schema object/],
  ])('refuses %s', (_name, declared, reason) => {
    expect(() => buildParameterSpec('params', SOURCE, declared)).toThrow(ParameterDefinitionError);
    expect(() => buildParameterSpec('params', SOURCE, declared)).toThrow(reason);
  });
});

describe('validateParameters', () => {
  it('fills defaults in declaration order', () => {
    const out = validateParameters(runbookWith(), { lookback_minutes: 5, order_id: 'A-1' });
    expect(Object.entries(out)).toEqual([
      ['order_id', 'A-1'],
      ['customer_email', null],
      ['lookback_minutes', 5],
      ['threshold', 0.5],
      ['include_refunds', true],
      ['services', ['api']],
    ]);
  });

  it('accepts a missing or null parameter object', () => {
    expect(validateParameters(runbookWith(), undefined)).toMatchObject({ lookback_minutes: 60 });
    expect(validateParameters(runbookWith(), null)).toMatchObject({ lookback_minutes: 60 });
  });

  it('refuses unknown names and wrong types, listing every problem', () => {
    expect(
      problems(() =>
        validateParameters(runbookWith(), { lookback_minutes: '60', bogus: 1, threshold: 2 }),
      ),
    ).toEqual([
      { parameter: 'bogus', message: 'unknown parameter' },
      { parameter: 'lookback_minutes', message: 'must be integer' },
    ]);
  });

  it('refuses a non-object', () => {
    expect(problems(() => validateParameters(runbookWith(), [1]))).toEqual([
      { parameter: null, message: 'parameters must be a JSON object' },
    ]);
  });

  it('requires parameters the schema marks required and applies formats', () => {
    const rb = runbookWith(SOURCE, {
      properties: { customer_email: { type: 'string', format: 'email' } },
      required: ['customer_email'],
    });
    expect(problems(() => validateParameters(rb, {}))).toEqual([
      { parameter: 'customer_email', message: 'is required' },
    ]);
    expect(problems(() => validateParameters(rb, { customer_email: 'not-an-email' }))).toEqual([
      { parameter: 'customer_email', message: 'must match format "email"' },
    ]);
    expect(validateParameters(rb, { customer_email: 'a@b.example' }).customer_email).toBe(
      'a@b.example',
    );
  });

  it('refuses any parameter for a runbook without a parameters cell', () => {
    expect(validateParameters({ id: 'x', parameters: null }, {})).toEqual({});
    expect(problems(() => validateParameters({ id: 'x', parameters: null }, { a: 1 }))).toEqual([
      { parameter: 'a', message: 'unknown parameter (this runbook takes no parameters)' },
    ]);
  });
});

describe('renderParametersCell', () => {
  it('assigns each value as a Python literal, floats kept as floats', () => {
    const rb = runbookWith();
    const values = validateParameters(rb, {
      order_id: `x'); import os; os.system('id`,
      threshold: 1,
    });
    expect(renderParametersCell(values, rb.parameters)).toBe(
      [
        '# Parameters injected by rungate',
        `order_id = 'x\\'); import os; os.system(\\'id'`,
        'customer_email = None',
        'lookback_minutes = 60',
        'threshold = 1.0',
        'include_refunds = True',
        "services = ['api']",
        '',
      ].join('\n'),
    );
  });

  it('refuses names that are not Python identifiers', () => {
    expect(() => renderParametersCell({ 'a=1;import os;b': 1 })).toThrow(RungateError);
    expect(() => renderParametersCell({ class: 1 })).toThrow(/not a Python identifier/);
  });
});
