import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzTimeout } from '../../test/support/fuzz';
import { canonicalJson } from './canonical-json';

/**
 * A copy of a JSON value with every object's keys inserted in an order derived from
 * `seed`. defineProperty, because assigning a `__proto__` key would set the prototype.
 */
function reorder(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => reorder(v, seed));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort((a, b) => scramble(a, seed) - scramble(b, seed));
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    Object.defineProperty(out, key, {
      value: reorder(record[key], seed),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function scramble(key: string, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x9e3779b1);
  return h;
}

const json = fc.jsonValue({ maxDepth: 4 });

describe('canonicalJson', () => {
  it(
    'renders the same text whatever order the keys were inserted in',
    () => {
      checkProperty(
        'canonical-json: key order',
        fc.property(json, fc.integer(), (value, seed) => {
          expect(canonicalJson(reorder(value, seed))).toBe(canonicalJson(value));
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'parses back to the value and is a fixed point',
    () => {
      checkProperty(
        'canonical-json: parse back',
        fc.property(json, (value) => {
          const text = canonicalJson(value);
          // JSON itself has no -0, so compare with what a JSON trip gives.
          expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
          expect(canonicalJson(JSON.parse(text))).toBe(text);
        }),
      );
    },
    fuzzTimeout(),
  );
});
