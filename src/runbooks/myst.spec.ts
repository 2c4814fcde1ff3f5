import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkProperty, fuzzTimeout } from '../../test/support/fuzz';
import { MystFormatError, isMystNotebook, mystToNotebook, notebookToMyst } from './myst';
import { normalizeNotebook, parseNotebook } from './notebook';

const SAMPLES = resolve(__dirname, '..', '..', 'runbooks');

function samples(dir = SAMPLES): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? samples(join(dir, e.name))
      : e.name.endsWith('.ipynb')
        ? [join(dir, e.name)]
        : [],
  );
}

const RUNBOOK = [
  '---',
  'jupytext:',
  '  text_representation:',
  '    extension: .md',
  '    format_name: myst',
  "    format_version: '0.13'",
  'kernelspec:',
  '  name: python3',
  '  display_name: Python 3',
  'rungate:',
  '  title: Queue depth',
  '  owner: sre',
  '  targets: [demo-shop]',
  '  environment: staging',
  '---',
  '',
  '+++ {"id": "intro"}',
  '',
  '# Queue depth',
  '',
  '```python',
  '+++ not a break inside a fence',
  '```',
  '',
  '```{code-cell} ipython3',
  ':id: parameters',
  ':tags: [parameters]',
  '',
  'queue = "payments"',
  '```',
  '',
  '```{code-cell}',
  '---',
  'id: fix',
  'tags: [mutating]',
  'rungate:',
  '  timeout: 30',
  '---',
  'print(queue)',
  '',
  '```',
  '',
  '```{raw-cell}',
  ':id: notes',
  '',
  'raw text',
  '```',
  '',
].join('\n');

describe('mystToNotebook', () => {
  it('reads front matter, code, raw and Markdown cells with their ids, tags and metadata', () => {
    const nb = mystToNotebook(RUNBOOK);
    expect(nb.metadata).toEqual({
      kernelspec: { name: 'python3', display_name: 'Python 3' },
      rungate: {
        title: 'Queue depth',
        owner: 'sre',
        targets: ['demo-shop'],
        environment: 'staging',
      },
    });
    expect(nb.cells).toEqual([
      {
        id: 'intro',
        cell_type: 'markdown',
        metadata: {},
        source: '# Queue depth\n\n```python\n+++ not a break inside a fence\n```',
      },
      {
        id: 'parameters',
        cell_type: 'code',
        metadata: { tags: ['parameters'] },
        source: 'queue = "payments"',
        outputs: [],
        execution_count: null,
      },
      {
        id: 'fix',
        cell_type: 'code',
        metadata: { tags: ['mutating'], rungate: { timeout: 30 } },
        source: 'print(queue)\n',
        outputs: [],
        execution_count: null,
      },
      { id: 'notes', cell_type: 'raw', metadata: {}, source: 'raw text' },
    ]);
    const runbook = parseNotebook('q', JSON.stringify(nb), { defaultKernel: 'python3' });
    expect(runbook.valid).toBe(true);
  });

  it('says where the metadata is not what the format allows', () => {
    expect(() => mystToNotebook('---\ntitle: [\n---\n')).toThrow(/front matter: invalid YAML/);
    expect(() => mystToNotebook('+++ {not json}\ntext\n')).toThrow(/line 1: .*must be JSON/);
    expect(() => mystToNotebook('---\nkernelspec: {}\n')).toThrow(/no closing ---/);
    expect(() =>
      mystToNotebook(
        '---\njupytext:\n  text_representation:\n    format_name: markdown\n---\n# x\n',
      ),
    ).toThrow(/not supported/);
  });

  it('tells notebooks from other Markdown files', () => {
    expect(isMystNotebook(RUNBOOK)).toBe(true);
    expect(isMystNotebook('```{code-cell}\nprint(1)\n```\n')).toBe(true);
    expect(isMystNotebook('# Runbooks\n\nSee the notebooks.\n```python\nx\n```\n')).toBe(false);
  });
});

describe('notebookToMyst', () => {
  it.each(samples())('round-trips the sample %s to the same normalized notebook', (file) => {
    const nb = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    const md = notebookToMyst(nb);
    expect(md).toMatch(/^---\njupytext:\n/);
    expect(md).toContain('{code-cell}');
    expect(normalizeNotebook(mystToNotebook(md))).toBe(normalizeNotebook(nb));
  });

  it('refuses what Markdown cannot keep exactly, naming the cell', () => {
    const nb = (cell: Record<string, unknown>) => ({
      nbformat: 4,
      nbformat_minor: 5,
      metadata: {},
      cells: [cell],
    });
    expect(() =>
      notebookToMyst(nb({ id: 'a', cell_type: 'markdown', metadata: {}, source: 'text\n' })),
    ).toThrow(/cells\[0\] \(id a\): a Markdown cell .* trim it/);
    expect(() =>
      notebookToMyst(
        nb({ id: 'b', cell_type: 'code', metadata: { id: 'x' }, source: '', outputs: [] }),
      ),
    ).toThrow(MystFormatError);
    expect(() =>
      notebookToMyst(
        nb({ id: 'c', cell_type: 'markdown', metadata: {}, source: 'a\n```{code-cell}\nx\n```' }),
      ),
    ).toThrow(/cells\[0\] \(id c\) would change/);
  });
});

/** Sources without carriage returns (line endings are normalized when reading). */
const text = fc.string({ maxLength: 40, unit: 'grapheme-ascii' }).map((s) => s.replace(/\r/g, ''));
const lines = fc
  .array(fc.oneof(text, fc.constantFrom('', '```', '+++', '---', ':x: 1', '~~~', '  ')), {
    maxLength: 5,
  })
  .map((l) => l.join('\n'));
const key = fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/).filter((k) => k !== 'id');
const metadata = fc.dictionary(key, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });

const cell = fc.record({
  id: fc.stringMatching(/^[a-zA-Z0-9_-]{1,16}$/),
  cell_type: fc.constantFrom('code', 'markdown', 'raw'),
  source: lines,
  metadata: fc.record(
    { tags: fc.subarray(['parameters', 'mutating', 'hide-input']), extra: metadata },
    { requiredKeys: [] },
  ),
});

const notebook = fc
  .record({
    cells: fc.uniqueArray(cell, { selector: (c) => c.id, maxLength: 6 }),
    metadata,
    rungate: fc.record({ title: text, targets: fc.array(text, { maxLength: 2 }) }),
  })
  .map(({ cells, metadata: meta, rungate }) => ({
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { ...meta, rungate },
    cells: cells.map((c) => ({
      ...c,
      ...(c.cell_type === 'code' ? { outputs: [], execution_count: null } : {}),
    })),
  }));

describe('MyST round trip (property)', () => {
  it(
    'writes a notebook that reads back identical, or refuses it',
    () => {
      let written = 0;
      checkProperty(
        'myst round trip',
        fc.property(notebook, (nb) => {
          let md: string;
          try {
            md = notebookToMyst(nb);
          } catch (err) {
            if (err instanceof MystFormatError) return true;
            throw err;
          }
          written++;
          return normalizeNotebook(mystToNotebook(md)) === normalizeNotebook(nb);
        }),
      );
      // Refusing is the exception: most generated notebooks must be written.
      expect(written).toBeGreaterThan(0);
    },
    fuzzTimeout(),
  );

  it('keeps every notebook whose Markdown cells are trimmed', () => {
    checkProperty(
      'myst writes trimmed notebooks',
      fc.property(notebook, (nb) => {
        const trimmed = {
          ...nb,
          cells: nb.cells.map((c) =>
            c.cell_type === 'markdown'
              ? { ...c, source: c.source.replace(/^(?:[ \t]*\n)+/, '').trimEnd() }
              : c,
          ),
        };
        // A trimmed Markdown cell can still hold a fence or a +++ line of its own.
        if (
          trimmed.cells.some(
            (c) => c.cell_type === 'markdown' && /^(?:```|~~~|\+\+\+|---)/m.test(c.source),
          )
        )
          return true;
        const md = notebookToMyst(trimmed);
        return normalizeNotebook(mystToNotebook(md)) === normalizeNotebook(trimmed);
      }),
    );
  });
});
