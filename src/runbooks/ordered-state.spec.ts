import { describe, expect, it } from 'vitest';
import { cellsToRunFirst, type CellRun } from './ordered-state';

const CELLS = [
  { id: 'intro', index: 0, type: 'markdown' },
  { id: 'params', index: 1, type: 'code' },
  { id: 'look', index: 2, type: 'code' },
  { id: 'check', index: 3, type: 'code' },
  { id: 'fix', index: 4, type: 'code' },
  { id: 'after', index: 5, type: 'code' },
];

const run = (cellId: string, seq: number, state: CellRun['state'] = 'ok'): CellRun => ({
  cellId,
  seq,
  state,
});

describe('cellsToRunFirst', () => {
  it('names every code cell above when none has run', () => {
    expect(cellsToRunFirst(CELLS, 'fix', [])).toEqual(['params', 'look', 'check']);
  });

  it('allows the cell once every code cell above ran, in order, successfully', () => {
    const runs = [run('params', 1), run('look', 2), run('check', 3)];
    expect(cellsToRunFirst(CELLS, 'fix', runs)).toEqual([]);
  });

  it('refuses after a cell above failed, from that cell on', () => {
    const runs = [run('params', 1), run('look', 2, 'error'), run('check', 3)];
    expect(cellsToRunFirst(CELLS, 'fix', runs)).toEqual(['look', 'check']);
  });

  it('refuses cells run out of order, from the first one that ran too early', () => {
    const runs = [run('params', 1), run('check', 2), run('look', 3)];
    expect(cellsToRunFirst(CELLS, 'fix', runs)).toEqual(['check']);
  });

  it('judges by the latest run of each cell, queued or running ones included', () => {
    const ok = [run('params', 1), run('look', 2), run('check', 3)];
    expect(cellsToRunFirst(CELLS, 'fix', [...ok, run('look', 4, 'queued')])).toEqual([
      'look',
      'check',
    ]);
    expect(cellsToRunFirst(CELLS, 'fix', [...ok, run('look', 4), run('check', 5)])).toEqual([]);
  });

  it('ignores markdown and the cells below the target', () => {
    expect(cellsToRunFirst(CELLS, 'params', [])).toEqual([]);
    expect(cellsToRunFirst(CELLS, 'look', [run('params', 1)])).toEqual([]);
  });
});
