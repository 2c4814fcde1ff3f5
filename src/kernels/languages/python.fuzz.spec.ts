import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzRuns, fuzzTimeout, reportCases } from '../../../test/support/fuzz';
import { canonicalJson } from '../../audit/canonical-json';
import { pythonAdapter } from './python';
import { isPythonIdentifier, parseParameterAssignments } from './python-literals';

/** The project's venv when bootstrapped, else the system CPython. */
const PYTHON = existsSync('.cache/venv/bin/python') ? '.cache/venv/bin/python' : '/usr/bin/python3';

/**
 * Runs every rendered cell in one CPython process (one per run, not per case):
 * each in a fresh namespace, answering each parameter's value as JSON and its
 * Python type name.
 */
const EVALUATOR = `
import json, sys
cases = json.load(sys.stdin)
out = []
for case in cases:
    ns = {}
    exec(case["source"], ns)
    out.append({name: [ns[name], type(ns[name]).__name__] for name in case["names"]})
json.dump(out, sys.stdout, allow_nan=False)
`;

interface RenderedCase {
  readonly values: Record<string, unknown>;
  readonly floats: ReadonlySet<string>;
  readonly source: string;
}

function evaluateInPython(
  cases: readonly RenderedCase[],
): Array<Record<string, [unknown, string]>> {
  const input = JSON.stringify(
    cases.map((c) => ({ source: c.source, names: Object.keys(c.values) })),
  );
  const run = spawnSync(PYTHON, ['-c', EVALUATOR], {
    input,
    encoding: 'utf8',
    maxBuffer: 1024 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`python failed (${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout) as Array<Record<string, [unknown, string]>>;
}

const name = fc
  .stringMatching(/^[a-zA-Z][a-zA-Z0-9_]{0,11}$/)
  .filter((n) => isPythonIdentifier(n) && n !== '__builtins__');

/** Strings over every kind of code unit: quotes, backslashes, controls, astral, lone surrogates. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom("'", '"', '\\', '\n', '\r', '\t', '\0', '\u2028', '\ud800', 'é'),
    maxLength: 8,
  }),
  fc.string({ maxLength: 12 }),
);

const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  text,
);

const value: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(text, tie('value'), { maxKeys: 3 }),
  ),
})).value;

/** A parameter set; `floats` names those declared `number`, which render as floats. */
const parameterSet = fc
  .dictionary(name, fc.tuple(value, fc.boolean()), { minKeys: 1, maxKeys: 4 })
  .map((entries) => {
    const values: Record<string, unknown> = {};
    const properties: Record<string, { type: string }> = {};
    const floats = new Set<string>();
    for (const [key, [v, declaredNumber]] of Object.entries(entries)) {
      values[key] = v;
      if (declaredNumber && typeof v === 'number') {
        properties[key] = { type: 'number' };
        floats.add(key);
      }
    }
    return { values, floats, schema: { type: 'object', properties } };
  });

describe('pythonAdapter.renderParameters', () => {
  it(
    'renders values that the parameters reader reads back unchanged',
    () => {
      checkProperty(
        'parameters: render/read round trip',
        fc.property(parameterSet, ({ values, floats, schema }) => {
          const source = pythonAdapter.renderParameters(values, schema);
          const read = parseParameterAssignments(source);
          expect(read.map((a) => a.name)).toEqual(Object.keys(values));
          for (const a of read) {
            expect(canonicalJson(a.value)).toBe(canonicalJson(values[a.name]));
            if (floats.has(a.name)) expect(a.isFloat).toBe(true);
          }
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'renders Python that CPython evaluates to the same values',
    () => {
      // Cases are collected during generation and evaluated in one batch afterwards:
      // a process per case would make 10^5 cases take hours.
      const cases: RenderedCase[] = [];
      fc.assert(
        fc.property(parameterSet, ({ values, floats, schema }) => {
          cases.push({ values, floats, source: pythonAdapter.renderParameters(values, schema) });
        }),
        { numRuns: fuzzRuns() },
      );
      const results = evaluateInPython(cases);
      expect(results).toHaveLength(cases.length);
      cases.forEach((c, i) => {
        const got = results[i];
        for (const [key, expected] of Object.entries(c.values)) {
          const [pyValue, pyType] = got[key];
          // canonicalJson on both sides: key order and -0 are not what is tested here.
          expect({ source: c.source, key, value: canonicalJson(pyValue) }).toEqual({
            source: c.source,
            key,
            value: canonicalJson(expected),
          });
          if (c.floats.has(key))
            expect({ source: c.source, pyType }).toEqual({ source: c.source, pyType: 'float' });
          else if (Number.isSafeInteger(expected))
            expect({ source: c.source, pyType }).toEqual({ source: c.source, pyType: 'int' });
        }
      });
      reportCases('parameters: CPython round trip', cases.length);
    },
    fuzzTimeout(),
  );
});
