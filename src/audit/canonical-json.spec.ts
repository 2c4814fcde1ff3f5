import { describe, expect, it } from 'vitest';
import { canonicalJson, CanonicalJsonError } from './canonical-json';

describe('canonicalJson', () => {
  it('sorts object members by key at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('sorts keys by UTF-16 code units, as RFC 8785 does', () => {
    expect(canonicalJson({ é: 1, z: 2, Z: 3, '10': 4, '9': 5 })).toBe(
      '{"10":4,"9":5,"Z":3,"z":2,"é":1}',
    );
  });

  it('leaves out undefined members and writes undefined array items as null', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, 1] })).toBe('{"b":[null,1]}');
  });

  it('formats numbers and escapes strings as JSON.stringify does', () => {
    expect(canonicalJson([1.5, -0, 1e21, 0.000001, 'a"b\\c\n\u0000\u2028'])).toBe(
      '[1.5,0,1e+21,0.000001,"a\\"b\\\\c\\n\\u0000\u2028"]',
    );
  });

  it('gives the same text for equal values built in a different order', () => {
    const one = canonicalJson({ x: { p: 1, q: [1, 2] }, y: 'y' });
    const two = canonicalJson({ y: 'y', x: { q: [1, 2], p: 1 } });
    expect(one).toBe(two);
    expect(canonicalJson(JSON.parse(one))).toBe(one);
  });

  it('refuses values JSON cannot carry, saying where they are', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(
      new CanonicalJsonError('$.a[1]', 'NaN is not a JSON number'),
    );
    expect(() => canonicalJson({ when: new Date(0) })).toThrow(/\$\.when: only plain objects/);
    expect(() => canonicalJson({ n: 10n })).toThrow(/a bigint is not JSON/);
  });
});
