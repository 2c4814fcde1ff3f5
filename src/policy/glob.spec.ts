import { describe, expect, it } from 'vitest';
import { checkPattern, globMatch } from './glob';

describe(globMatch.name, () => {
  it.each([
    ['shop/orders', 'shop/*', true],
    ['shop/a/b', 'shop/*', false],
    ['db/replication-lag', 'db/**', true],
    ['db/pg/vacuum', 'db/**', true],
    ['db', 'db/**', false],
    ['anything/at/all', '**', true],
    ['top-level', '*', true],
    ['shop/orders', '*', false],
    ['prod', '*', true],
    ['prod', 'prod', true],
    ['production', 'prod', false],
    ['prod-eu', 'prod-*', true],
    ['prod1', 'prod?', true],
    ['prod12', 'prod?', false],
    ['shop/orders', 'shop/or*s', true],
    ['shop/orders', '**/orders', true],
    ['a/b/orders', '**/orders', true],
  ])('matches %s against %s: %s', (value, pattern, expected) => {
    expect(globMatch(value, pattern)).toBe(expected);
  });

  it('treats regular-expression characters literally', () => {
    expect(globMatch('a.b', 'a.b')).toBe(true);
    expect(globMatch('axb', 'a.b')).toBe(false);
    expect(globMatch('a+b(c)', 'a+b(c)')).toBe(true);
    expect(globMatch('a[b]', 'a[b]')).toBe(true);
    expect(globMatch('ab', 'a[b]')).toBe(false);
  });

  it('matches patterns read as text, which authorizeAny relies on', () => {
    expect(globMatch('shop/*', '**')).toBe(true);
    expect(globMatch('*', 'prod')).toBe(false);
    expect(globMatch('**', 'shop/*')).toBe(false);
  });
});

describe(checkPattern.name, () => {
  it('refuses empty patterns and white space', () => {
    expect(checkPattern('')).toMatch(/empty/);
    expect(checkPattern('shop /x')).toMatch(/white space/);
    expect(checkPattern('shop/**')).toBeUndefined();
  });
});
