import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzTimeout } from '../../test/support/fuzz';
import { globMatch, globToRegExp } from './glob';

/**
 * An independent reading of the documented rules, by backtracking over UTF-16
 * code units: `**` (or more stars) any run, `*` any run without `/`, `?` one
 * character but `/`, anything else itself.
 */
function reference(value: string, pattern: string): boolean {
  const match = (p: number, v: number): boolean => {
    if (p === pattern.length) return v === value.length;
    const c = pattern[p];
    if (c === '*') {
      let end = p;
      while (pattern[end] === '*') end++;
      const crossesSlash = end - p >= 2;
      for (let k = v; k <= value.length; k++) {
        if (match(end, k)) return true;
        if (k < value.length && value[k] === '/' && !crossesSlash) return false;
      }
      return false;
    }
    if (v === value.length) return false;
    if (c === '?') return value[v] !== '/' && match(p + 1, v + 1);
    return value[v] === c && match(p + 1, v + 1);
  };
  return match(0, 0);
}

/** Small alphabets, so patterns and values actually meet; regex metacharacters included. */
const pattern = fc.string({
  unit: fc.constantFrom(
    'a',
    'b',
    '/',
    '*',
    '?',
    '.',
    '-',
    '(',
    '[',
    '\\',
    '$',
    '^',
    '+',
    '|',
    '\n',
  ),
  maxLength: 10,
});
const value = fc.string({
  unit: fc.constantFrom('a', 'b', '/', '.', '-', '(', '[', '\\', '*', '?', '\n'),
  maxLength: 10,
});

describe('globMatch', () => {
  it(
    'agrees with a reference matcher on generated patterns and values',
    () => {
      checkProperty(
        'glob: matches the reference',
        fc.property(pattern, value, (p, v) => {
          expect(globMatch(v, p)).toBe(reference(v, p));
        }),
      );
    },
    fuzzTimeout(),
  );

  it(
    'matches a pattern without wildcards exactly, even full of regex syntax',
    () => {
      checkProperty(
        'glob: literal patterns',
        fc.property(
          fc.string({ unit: 'binary', maxLength: 12 }).filter((p) => !/[*?]/.test(p)),
          fc.string({ unit: 'binary', maxLength: 12 }),
          (p, v) => {
            expect(globMatch(p, p)).toBe(true);
            expect(globToRegExp(p).test(p)).toBe(true);
            expect(globMatch(v, p)).toBe(v === p);
          },
        ),
      );
    },
    fuzzTimeout(),
  );

  it(
    'builds a regex for any pattern string without throwing',
    () => {
      checkProperty(
        'glob: arbitrary patterns',
        fc.property(fc.string({ unit: 'binary', maxLength: 30 }), fc.string(), (p, v) => {
          expect(globToRegExp(p)).toBeInstanceOf(RegExp);
          expect(typeof globMatch(v, p)).toBe('boolean');
          // `**` swallows everything; `*` only what has no slash.
          expect(globMatch(v, '**')).toBe(true);
          expect(globMatch(v, '*')).toBe(!v.includes('/'));
        }),
      );
    },
    fuzzTimeout(),
  );
});
