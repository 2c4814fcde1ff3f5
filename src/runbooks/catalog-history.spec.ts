import { describe, expect, it } from 'vitest';
import { diffCells } from './catalog-history';
import type { RunbookCell } from './runbooks.types';

function cell(
  id: string,
  index: number,
  source: string,
  over: Partial<RunbookCell> = {},
): RunbookCell {
  return {
    id,
    index,
    type: 'code',
    source,
    sha256: '',
    tags: [],
    class: 'read-only',
    timeoutMs: null,
    ...over,
  };
}

describe(diffCells.name, () => {
  it('leaves identical cells out', () => {
    const cells = [cell('a', 0, 'x = 1'), cell('b', 1, 'print(x)')];
    expect(diffCells(cells, cells)).toEqual([]);
  });

  it('matches cells by id: added, removed, and changed with a line diff', () => {
    const before = [cell('a', 0, 'x = 1\ny = 2\n'), cell('b', 1, 'print(x)')];
    const after = [cell('a', 0, 'x = 1\ny = 3\n'), cell('c', 1, 'print(y)')];
    expect(diffCells(before, after)).toEqual([
      expect.objectContaining({
        id: 'a',
        change: 'changed',
        lines: [
          { op: ' ', text: 'x = 1' },
          { op: '-', text: 'y = 2' },
          { op: '+', text: 'y = 3' },
        ],
      }),
      expect.objectContaining({
        id: 'c',
        change: 'added',
        fromIndex: null,
        toIndex: 1,
        lines: [{ op: '+', text: 'print(y)' }],
      }),
      expect.objectContaining({
        id: 'b',
        change: 'removed',
        fromIndex: 1,
        toIndex: null,
        lines: [{ op: '-', text: 'print(x)' }],
      }),
    ]);
  });

  it('reports a cell that became mutating even when its source is the same', () => {
    const before = [cell('w', 0, 'api.post("/restart")')];
    const after = [cell('w', 0, 'api.post("/restart")', { tags: ['mutating'], class: 'mutating' })];
    expect(diffCells(before, after)).toEqual([
      expect.objectContaining({
        id: 'w',
        change: 'changed',
        fromClass: 'read-only',
        toClass: 'mutating',
        fromTags: [],
        toTags: ['mutating'],
        lines: [{ op: ' ', text: 'api.post("/restart")' }],
      }),
    ]);
  });
});
