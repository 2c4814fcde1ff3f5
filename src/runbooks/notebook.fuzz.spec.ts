import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzTimeout } from '../../test/support/fuzz';
import { parseNotebook } from './notebook';

const OPTIONS = { defaultKernel: 'python3' };

/** nbformat 4.5 cell ids. */
const cellId = fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/);

/** Cell sources as nbformat writes them: one string or a list of lines. */
const source = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }),
);

const cellBody = fc.record({
  cell_type: fc.constantFrom('code', 'markdown', 'raw'),
  source,
  // "parameters" is left out: that tag needs a parameters cell written in Python.
  tags: fc.subarray(['mutating', 'read-only', 'setup', 'teardown']),
});

const validNotebook = fc
  .record({
    cells: fc.uniqueArray(fc.tuple(cellId, cellBody), {
      selector: ([id]) => id,
      maxLength: 8,
    }),
    title: fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== ''),
    environment: fc.string({ minLength: 1, maxLength: 10 }).filter((s) => s.trim() !== ''),
    targets: fc.uniqueArray(
      fc.string({ minLength: 1, maxLength: 10 }).filter((s) => s.trim() !== ''),
      { maxLength: 3 },
    ),
  })
  .map(({ cells, title, environment, targets }) => ({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { rungate: { title, environment, targets } },
    cells: cells.map(([id, c]) => ({
      id,
      cell_type: c.cell_type,
      source: c.source,
      metadata: { tags: c.tags },
      ...(c.cell_type === 'code' ? { outputs: [], execution_count: null } : {}),
    })),
  }));

/**
 * Notebook-shaped documents where any part may be of the wrong kind, so the
 * validation deep inside is reached, not only the first check.
 */
const anyJson = fc.jsonValue({ maxDepth: 3 });
const hostileNotebook = validNotebook.chain((nb) =>
  fc.record({
    nbformat: fc.oneof(fc.constant(nb.nbformat), anyJson),
    nbformat_minor: fc.oneof(fc.constant(nb.nbformat_minor), anyJson),
    metadata: fc.oneof(
      fc.constant(nb.metadata),
      anyJson,
      fc.record({
        rungate: fc.dictionary(
          fc.constantFrom('title', 'environment', 'targets', 'owner', 'description', 'parameters'),
          anyJson,
        ),
        kernelspec: anyJson,
      }),
    ),
    cells: fc.oneof(
      fc.constant(nb.cells),
      anyJson,
      fc.array(
        fc.oneof(
          anyJson,
          fc.dictionary(
            fc.constantFrom('id', 'cell_type', 'source', 'metadata', 'outputs', 'execution_count'),
            fc.oneof(anyJson, cellId, fc.constantFrom('code', 'markdown', 'raw')),
          ),
        ),
        { maxLength: 4 },
      ),
    ),
  }),
);

/** parseNotebook's contract: a result, valid or carrying a non-empty reason, and no exception. */
function expectResult(content: string): void {
  const result = parseNotebook('fuzz/nb', content, OPTIONS);
  if (!result.valid) {
    expect(typeof result.reason).toBe('string');
    expect(result.reason).not.toBe('');
  }
}

describe('parseNotebook', () => {
  it(
    'answers arbitrary JSON and text with a result, never an exception',
    () => {
      checkProperty(
        'notebook: arbitrary input',
        fc.property(
          fc.oneof(
            anyJson.map((v) => JSON.stringify(v)),
            hostileNotebook.map((v) => JSON.stringify(v)),
            fc.string({ maxLength: 40 }),
          ),
          expectResult,
        ),
      );
    },
    fuzzTimeout(),
  );

  it(
    'parses generated valid notebooks with their cells in order',
    () => {
      checkProperty(
        'notebook: valid notebooks',
        fc.property(validNotebook, (nb) => {
          const result = parseNotebook('fuzz/nb', JSON.stringify(nb), OPTIONS);
          expect(result.valid).toBe(true);
          if (!result.valid) return;
          expect(
            result.cells.map((c) => ({ id: c.id, index: c.index, type: c.type, source: c.source })),
          ).toEqual(
            nb.cells.map((c, index) => ({
              id: c.id,
              index,
              type: c.cell_type,
              source: Array.isArray(c.source) ? c.source.join('') : c.source,
            })),
          );
          // The stored content re-parses to the same version (normalization is idempotent).
          const again = parseNotebook('fuzz/nb', result.content, OPTIONS);
          expect(again.valid && again.version).toBe(result.version);
        }),
      );
    },
    fuzzTimeout(),
  );
});
