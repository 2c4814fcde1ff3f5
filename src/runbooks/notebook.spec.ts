import { describe, expect, it } from 'vitest';
import { normalizeNotebook, parseNotebook, sha256Hex } from './notebook';
import type { InvalidRunbook, Runbook } from './runbooks.types';

type CellInput = {
  id?: unknown;
  cell_type?: string;
  source?: unknown;
  tags?: string[];
  outputs?: unknown[];
  extra?: Record<string, unknown>;
};

function cell({
  id,
  cell_type = 'code',
  source = 'x = 1',
  tags,
  outputs = [],
  extra = {},
}: CellInput = {}) {
  const c: Record<string, unknown> = {
    cell_type,
    source,
    metadata: tags ? { tags } : {},
    ...extra,
  };
  if (id !== undefined) c.id = id;
  if (cell_type === 'code') {
    c.outputs = outputs;
    c.execution_count = null;
  }
  return c;
}

/** A valid notebook; override any part. */
function newNotebook(
  overrides: {
    cells?: Record<string, unknown>[];
    metadata?: Record<string, unknown>;
    top?: Record<string, unknown>;
  } = {},
) {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      rungate: {
        title: 'Stuck jobs',
        description: 'Find and retry',
        owner: 'team-shop',
        targets: ['demo-shop'],
        environment: 'prod',
      },
      ...overrides.metadata,
    },
    cells: overrides.cells ?? [
      cell({ id: 'intro', cell_type: 'markdown', source: ['# Stuck jobs\n', 'Look here.'] }),
      cell({ id: 'params', source: 'queue = "payments"\nolder_than = 15\n', tags: ['parameters'] }),
      cell({ id: 'look', source: 'print(queue)' }),
      cell({ id: 'retry', source: 'shop.post("/api/jobs/retry")', tags: ['mutating'] }),
    ],
    ...overrides.top,
  };
}

const options = { defaultKernel: 'python3' };

function parseValid(nb: unknown, id = 'shop/stuck-jobs'): Runbook {
  const r = parseNotebook(id, JSON.stringify(nb, null, 2), options);
  if (!r.valid) throw new Error(`expected valid, got: ${r.reason}`);
  return r;
}

function parseInvalid(content: string | object): InvalidRunbook {
  const r = parseNotebook(
    'x',
    typeof content === 'string' ? content : JSON.stringify(content),
    options,
  );
  if (r.valid) throw new Error('expected invalid');
  return r;
}

describe('parseNotebook', () => {
  it('reads metadata, cells, classes and hashes', () => {
    const rb = parseValid(newNotebook());
    expect(rb).toMatchObject({
      valid: true,
      id: 'shop/stuck-jobs',
      title: 'Stuck jobs',
      description: 'Find and retry',
      owner: 'team-shop',
      targets: ['demo-shop'],
      environment: 'prod',
      kernel: 'python3',
      warnings: [],
    });
    expect(rb.cells.map((c) => [c.id, c.index, c.type, c.class])).toEqual([
      ['intro', 0, 'markdown', null],
      ['params', 1, 'code', 'parameters'],
      ['look', 2, 'code', 'read-only'],
      ['retry', 3, 'code', 'mutating'],
    ]);
    expect(rb.cells[0].source).toBe('# Stuck jobs\nLook here.');
    expect(rb.cells[2].sha256).toBe(sha256Hex('print(queue)'));
    expect(rb.parameters).toEqual({
      cellId: 'params',
      defaults: { queue: 'payments', older_than: 15 },
      schema: {
        type: 'object',
        additionalProperties: false,
        properties: { queue: { type: 'string' }, older_than: { type: 'integer' } },
      },
    });
  });

  it('uses the configured kernel when the notebook names none', () => {
    const nb = newNotebook();
    delete (nb.metadata as Record<string, unknown>).kernelspec;
    expect(parseNotebook('a', JSON.stringify(nb), { defaultKernel: 'python-prod' })).toMatchObject({
      kernel: 'python-prod',
    });
  });

  it('reads a per-cell timeout in seconds', () => {
    const rb = parseValid(
      newNotebook({
        cells: [cell({ id: 'a', extra: { metadata: { rungate: { timeout: 2.5 } } } })],
      }),
    );
    expect(rb.cells[0].timeoutMs).toBe(2500);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'a missing cell id',
      newNotebook({ cells: [cell({ id: 'a' }), cell({ id: 'b' }), cell({ id: 'c' }), cell()] }),
      /^cells\[3\]: missing id \(nbformat 4\.5 requires cell ids\)$/,
    ],
    [
      'a duplicate cell id',
      newNotebook({ cells: [cell({ id: 'a' }), cell({ id: 'a' })] }),
      /cells\[1\]: duplicate id "a" \(also cells\[0\]\)/,
    ],
    [
      'a malformed cell id',
      newNotebook({ cells: [cell({ id: 'has space' })] }),
      /cells\[0\]: id must be/,
    ],
    ['nbformat 3', newNotebook({ top: { nbformat: 3 } }), /nbformat must be 4 \(got 3\)/],
    [
      'nbformat 4.4',
      newNotebook({ top: { nbformat_minor: 4 } }),
      /nbformat_minor must be 5 or more/,
    ],
    [
      'committed outputs',
      newNotebook({
        cells: [
          cell({ id: 'a', outputs: [{ output_type: 'stream', name: 'stdout', text: 'secret' }] }),
        ],
      }),
      /cells\[0\]: outputs must be cleared/,
    ],
    [
      'an unknown cell type',
      newNotebook({ cells: [cell({ id: 'a', cell_type: 'heading' })] }),
      /cell_type must be/,
    ],
    [
      'no rungate metadata',
      newNotebook({ metadata: { rungate: undefined } }),
      /metadata.rungate is missing/,
    ],
    [
      'no title',
      newNotebook({ metadata: { rungate: { targets: [], environment: 'prod' } } }),
      /metadata.rungate.title must be a non-empty string/,
    ],
    [
      'targets not a list',
      newNotebook({
        metadata: { rungate: { title: 't', targets: 'demo-shop', environment: 'prod' } },
      }),
      /metadata.rungate.targets must be a list/,
    ],
    [
      'two parameters cells',
      newNotebook({
        cells: [cell({ id: 'a', tags: ['parameters'] }), cell({ id: 'b', tags: ['parameters'] })],
      }),
      /only one cell may be tagged "parameters"/,
    ],
    [
      'code in the parameters cell',
      newNotebook({
        cells: [cell({ id: 'p', source: 'import os\nx = os.getenv("X")', tags: ['parameters'] })],
      }),
      /cells\[0\]: parameters cell: line 1, column 1: expected `name = literal`, found the keyword import/,
    ],
    [
      'parameters tagged mutating',
      newNotebook({ cells: [cell({ id: 'p', tags: ['parameters', 'mutating'] })] }),
      /both "parameters" and "mutating"/,
    ],
    [
      'a bad per-cell timeout',
      newNotebook({
        cells: [cell({ id: 'a', extra: { metadata: { rungate: { timeout: -1 } } } })],
      }),
      /timeout must be/,
    ],
  ])('refuses %s with a precise reason', (_name, nb, reason) => {
    expect(parseInvalid(nb as object).reason).toMatch(reason);
  });

  it('reports bad JSON with line and column', () => {
    const r = parseInvalid('{\n  "nbformat": 4,\n  "cells": [,]\n}');
    expect(r.reason).toBe('invalid JSON at line 3, column 13: unexpected ","');
  });

  it('reports truncated JSON at its end', () => {
    expect(parseInvalid('{"nbformat": 4').reason).toBe(
      'invalid JSON at line 1, column 15: unexpected end of input',
    );
  });
});

describe('normalizeNotebook', () => {
  it('gives the same version whatever the key order, whitespace, source form and run state', () => {
    const a = newNotebook();
    const b = JSON.parse(JSON.stringify(a)) as ReturnType<typeof newNotebook>;
    (b.cells[2] as Record<string, unknown>).execution_count = 7;
    (b.cells[2] as Record<string, unknown>).source = ['print(', 'queue)'];
    const reordered = Object.fromEntries(Object.entries(b).reverse());
    expect(parseValid(reordered).version).toBe(parseValid(a).version);
  });

  it('changes the version when any cell source changes', () => {
    const a = newNotebook();
    const b = newNotebook();
    (b.cells[2] as Record<string, unknown>).source = 'print(queue) '; // one space
    expect(parseValid(b).version).not.toBe(parseValid(a).version);
  });

  it('is idempotent: re-parsing the stored content gives the same runbook', () => {
    const first = parseValid(newNotebook());
    const again = parseNotebook(first.id, first.content, options);
    expect(again).toEqual(first);
    expect(normalizeNotebook(JSON.parse(first.content) as Record<string, unknown>)).toBe(
      first.content,
    );
    expect(first.version).toBe(sha256Hex(first.content));
  });
});
