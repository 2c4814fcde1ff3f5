import { describe, expect, it } from 'vitest';
import { diffLines, unifiedDiff } from './line-diff';

const labels = { fromLabel: 'a', toLabel: 'b' };

describe(diffLines.name, () => {
  it('keeps common lines and marks the rest', () => {
    expect(diffLines(['a', 'b', 'c'], ['a', 'x', 'c'])).toEqual([
      { op: ' ', text: 'a' },
      { op: '-', text: 'b' },
      { op: '+', text: 'x' },
      { op: ' ', text: 'c' },
    ]);
  });

  it('finds the longest common subsequence, not just a common prefix', () => {
    const d = diffLines(['x', 'a', 'b', 'c'], ['a', 'b', 'c', 'y']);
    expect(d.filter((l) => l.op === ' ').map((l) => l.text)).toEqual(['a', 'b', 'c']);
    expect(d.filter((l) => l.op !== ' ')).toEqual([
      { op: '-', text: 'x' },
      { op: '+', text: 'y' },
    ]);
  });

  it('rebuilds both sides', () => {
    const a = ['1', '2', '3', '4', '5', '6'];
    const b = ['0', '2', '3', 'x', '5', '7', '8'];
    const d = diffLines(a, b);
    expect(d.filter((l) => l.op !== '+').map((l) => l.text)).toEqual(a);
    expect(d.filter((l) => l.op !== '-').map((l) => l.text)).toEqual(b);
  });
});

describe(unifiedDiff.name, () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('x\n', 'x\n', labels)).toBe('');
  });

  it('prints a hunk with headers, ranges and three lines of context', () => {
    const before = ['l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7', 'l8'].join('\n');
    const after = ['l1', 'l2', 'l3', 'l4', 'CHANGED', 'l6', 'l7', 'l8'].join('\n');
    expect(unifiedDiff(before, after, labels)).toBe(
      [
        '--- a',
        '+++ b',
        '@@ -2,7 +2,7 @@',
        ' l2',
        ' l3',
        ' l4',
        '-l5',
        '+CHANGED',
        ' l6',
        ' l7',
        ' l8',
        '',
      ].join('\n'),
    );
  });

  it('splits distant changes into separate hunks', () => {
    const lines = Array.from({ length: 20 }, (_, i) => `l${i + 1}`);
    const changed = [...lines];
    changed[1] = 'two';
    changed[17] = 'eighteen';
    const out = unifiedDiff(lines.join('\n'), changed.join('\n'), labels);
    expect(out.match(/^@@/gm)).toHaveLength(2);
    expect(out).toContain('@@ -1,5 +1,5 @@');
    expect(out).toContain('@@ -15,6 +15,6 @@');
  });

  it('writes an empty side as start-1,0', () => {
    expect(unifiedDiff('', 'new\n', labels)).toBe('--- a\n+++ b\n@@ -0,0 +1 @@\n+new\n');
  });
});
