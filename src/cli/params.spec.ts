import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors';
import { coerceParameters, collectParam, type ParameterInfo } from './params';

const usage = (fn: () => unknown): CliError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('expected a usage error');
};

describe(collectParam.name, () => {
  it('splits at the first = and keeps the rest of the value', () => {
    expect(collectParam('filter=a=b', [])).toEqual([{ key: 'filter', value: 'a=b' }]);
    expect(collectParam('empty=', [{ key: 'x', value: '1' }])).toEqual([
      { key: 'x', value: '1' },
      { key: 'empty', value: '' },
    ]);
  });

  it('refuses what is not key=value, bad names and repeats, as usage errors', () => {
    for (const bad of ['novalue', '=1', '1x=2', 'a-b=1']) {
      expect(usage(() => collectParam(bad, [])).exitCode).toBe(ExitCode.Usage);
    }
    expect(usage(() => collectParam('a=2', [{ key: 'a', value: '1' }])).message).toMatch(/twice/);
  });
});

describe(coerceParameters.name, () => {
  const info: ParameterInfo = {
    schema: {
      properties: {
        order_id: { type: 'string' },
        lookback_minutes: { type: 'integer' },
        ratio: { type: ['number', 'null'] },
        verbose: { type: 'boolean' },
        tags: { type: 'array' },
      },
    },
    defaults: {
      order_id: '',
      lookback_minutes: 30,
      ratio: 0.5,
      verbose: false,
      limit: 10,
      tags: [],
    },
  };
  const parse = (key: string, value: string) => coerceParameters([{ key, value }], info)[key];

  it('types values as the runbook declares them', () => {
    expect(parse('order_id', '123')).toBe('123');
    expect(parse('lookback_minutes', '60')).toBe(60);
    expect(parse('ratio', '0.25')).toBe(0.25);
    expect(parse('verbose', 'yes')).toBe(true);
    expect(parse('tags', '["a","b"]')).toEqual(['a', 'b']);
    // Without a schema entry the default's type decides.
    expect(parse('limit', '5')).toBe(5);
  });

  it('refuses values of the wrong type and names the runbook does not declare', () => {
    expect(usage(() => parse('lookback_minutes', '1.5')).message).toMatch(/whole number/);
    expect(usage(() => parse('lookback_minutes', '')).message).toMatch(/whole number/);
    expect(usage(() => parse('verbose', 'maybe')).message).toMatch(/true or false/);
    expect(usage(() => parse('nope', '1')).message).toMatch(/no such parameter.*lookback_minutes/);
    expect(usage(() => coerceParameters([{ key: 'a', value: '1' }], null)).message).toMatch(
      /takes none/,
    );
  });

  it('sends nothing when nothing is given', () => {
    expect(coerceParameters([], null)).toEqual({});
  });
});
