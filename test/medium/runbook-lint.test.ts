import { Test } from '@nestjs/testing';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import {
  defaultLintConfig,
  loadLintConfig,
  LintConfigError,
  parseLintConfig,
} from '../../src/curation/lint/config';
import { formatSarif, formatText } from '../../src/curation/lint/format';
import { lintNotebooks, type LintResult } from '../../src/curation/lint/linter';
import type { Finding } from '../../src/curation/lint/lint.types';
import { defaultPython } from '../../src/curation/lint/python-analyzer';
import { RULES } from '../../src/curation/lint/rules';
import { mystToNotebook } from '../../src/runbooks/myst';
import { RunbooksModule } from '../../src/runbooks/runbooks.module';
import { RunbooksService } from '../../src/runbooks/runbooks.service';
import { newConfigHome, runCli } from '../support/cli';

const ROOT = resolve(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'lint');
const PYTHON = defaultPython(ROOT);

/** [rule, cell index (null: the notebook), line, column] in the cell's source. */
type Expected = [string, number | null, number, number];

/** Each fixture and exactly what the linter must find in it, with the default rule levels. */
const EXPECTED: Record<string, Expected[]> = {
  'clean.ipynb': [],
  'notebook-json.ipynb': [['notebook-json', null, 3, 24]],
  'nbformat-schema.ipynb': [['nbformat-schema', 0, 1, 1]],
  'cell-id.ipynb': [['cell-id', 2, 1, 1]],
  'rungate-metadata.ipynb': [['rungate-metadata', null, 34, 14]],
  'committed-outputs.ipynb': [
    ['committed-outputs', 2, 1, 1],
    ['execution-count', 2, 1, 1],
  ],
  'secret.ipynb': [
    ['secret', 2, 2, 48],
    ['secret', 2, 3, 29],
  ],
  'parameters-cell.ipynb': [['parameters-cell', 1, 2, 9]],
  'parameters-typed.ipynb': [['parameters-typed', 1, 2, 1]],
  'python-syntax.ipynb': [['python-syntax', 2, 2, 10]],
  // A DELETE in a comment, in a string that is only printed, inside a LIKE pattern of a
  // SELECT, and `.post(` in a comment: a regular expression flags them; nothing runs them.
  'not-executed.ipynb': [],
  // A DELETE built in one cell and run through a variable in the next: no regular
  // expression sees a write at the `execute` call.
  'sql-through-variable.ipynb': [['untagged-mutating', 3, 2, 5]],
  'sql-effects.ipynb': [
    ['untagged-mutating', 2, 1, 1],
    ['untagged-mutating', 3, 1, 1],
    ['untagged-mutating', 4, 1, 1],
    ['untagged-mutating', 5, 1, 1],
  ],
  'http-write.ipynb': [
    ['untagged-mutating', 2, 2, 1],
    ['untagged-mutating', 2, 3, 1],
  ],
  'shell.ipynb': [
    ['untagged-mutating', 2, 4, 1],
    ['untagged-mutating', 3, 3, 1],
  ],
  'sql-syntax.ipynb': [['sql-syntax', 2, 1, 1]],
  'sql-dynamic.ipynb': [['sql-dynamic', 2, 2, 1]],
  'mutating-unexplained.ipynb': [['mutating-unexplained', 2, 1, 1]],
  'mutating-not-idempotent.ipynb': [['mutating-not-idempotent', 5, 1, 1]],
};

/** The runbooks shipped in runbooks/: notebooks, and Markdown ones. */
async function sampleRunbooks(): Promise<string[]> {
  const all = await readdir(join(ROOT, 'runbooks'), { recursive: true });
  return all.filter((f) => f.endsWith('.ipynb') || f.endsWith('.md')).sort();
}

function located(f: Finding): Expected {
  return [f.rule, f.cell?.index ?? null, f.line, f.column];
}

async function fixture(name: string): Promise<{ path: string; content: string }> {
  return {
    path: `test/fixtures/lint/${name}`,
    content: await readFile(join(FIXTURES, name), 'utf8'),
  };
}

function sarifValidator() {
  return readFile(join(FIXTURES, 'schemas', 'sarif-2.1.0-rtm.5.json'), 'utf8').then((text) => {
    // The official schema is draft-04 (`id`, `$schema`); its keywords mean the same in ajv's draft.
    const { $schema: _s, id: _id, ...schema } = JSON.parse(text) as Record<string, unknown>;
    void _s;
    void _id;
    // Its patterns are ECMAScript-without-u regular expressions.
    const ajv = new Ajv({ allErrors: true, strict: false, unicodeRegExp: false });
    addFormats(ajv);
    return ajv.compile(schema);
  });
}

describe('runbook lint', () => {
  let result: LintResult;
  const names = Object.keys(EXPECTED);

  beforeAll(async () => {
    const inputs = await Promise.all(names.map(fixture));
    result = await lintNotebooks(inputs, { config: defaultLintConfig(), python: PYTHON });
  });

  it('has a fixture for every rule', () => {
    const caught = new Set(Object.values(EXPECTED).flatMap((e) => e.map(([rule]) => rule)));
    expect(RULES.map((r) => r.id).filter((id) => !caught.has(id))).toEqual([]);
    expect(result.pythonUnavailable).toBeNull();
  });

  it.each(names)('finds exactly the expected problems, at the right place, in %s', (name) => {
    const report = result.reports[names.indexOf(name)];
    expect(report.path).toBe(`test/fixtures/lint/${name}`);
    expect(report.findings.map(located)).toEqual(EXPECTED[name]);
  });

  it('names the effect, the call and the variable a write came through', () => {
    const [f] = result.reports[names.indexOf('sql-through-variable.ipynb')].findings;
    expect(f.effect).toBe('write');
    expect(f.cell).toEqual({ index: 3, id: 'run' });
    expect(f.message).toContain('DELETE via cur.execute');
    expect(f.message).toContain('SQL from variable "statement" (cells[2] build, line 2)');
  });

  it('classifies SQL by its worst effect with PostgreSQL’s parser', () => {
    const effects = result.reports[names.indexOf('sql-effects.ipynb')].findings.map((f) => [
      f.cell?.id,
      f.effect,
    ]);
    expect(effects).toEqual([
      ['kill', 'server-function'],
      ['grant', 'privilege'],
      ['ddl', 'ddl'],
      ['cte', 'write'],
    ]);
  });

  it('tells the kubectl verb, and leaves kubectl get alone', () => {
    const messages = result.reports[names.indexOf('shell.ipynb')].findings.map((f) => f.message);
    expect(messages[0]).toMatch(/^kubectl delete via ! \(write\)/);
    expect(messages[1]).toMatch(/^kubectl scale via %%bash \(write\)/);
  });

  it('never prints a secret whole', () => {
    const text = formatText(result.reports);
    expect(text).not.toContain('AKIAIOSFODNN7EXAMPLE');
    expect(text).not.toContain('s3cr3t-Passw0rd');
    expect(text).toContain('AWS access key id (AKIA…LE)');
  });

  it('maps a place in a cell to the line and column of the file', async () => {
    const { content } = await fixture('secret.ipynb');
    const [f] = result.reports[names.indexOf('secret.ipynb')].findings;
    const lines = content.split('\n');
    const line = lines.findIndex((l) => l.includes('AKIAIOSFODNN7EXAMPLE')) + 1;
    expect(f.region).toMatchObject({
      startLine: line,
      startColumn: lines[line - 1].indexOf('AKIA') + 1,
      endLine: line,
      endColumn: lines[line - 1].indexOf('AKIA') + 21,
    });
  });

  it('lints the shipped sample runbooks clean (notebooks and Markdown)', async () => {
    const files = await sampleRunbooks();
    expect(files.filter((f) => f.endsWith('.ipynb')).length).toBeGreaterThanOrEqual(5);
    const inputs = await Promise.all(
      files.map(async (f) => {
        const content = await readFile(join(ROOT, 'runbooks', f), 'utf8');
        return f.endsWith('.md')
          ? { path: f, content, notebook: mystToNotebook(content) }
          : { path: f, content };
      }),
    );
    const config = loadLintConfig(join(ROOT, 'runbooks', '.rungate-lint.yaml'));
    const clean = await lintNotebooks(inputs, { config, python: PYTHON });
    expect(clean.pythonUnavailable).toBeNull();
    expect(clean.reports.map((r) => [r.path, r.findings.map((f) => f.message)])).toEqual(
      files.map((f) => [f, []]),
    );
  });

  it('writes SARIF 2.1.0 that validates against the official schema', async () => {
    const validate = await sarifValidator();
    const sarif = JSON.parse(
      formatSarif(result.reports, defaultLintConfig(), { cwd: ROOT, version: '0.1.0' }),
    ) as { runs: Array<{ results: Array<Record<string, unknown>> }> };
    expect(validate(sarif), JSON.stringify(validate.errors, null, 1)).toBe(true);
    const total = result.reports.reduce((n, r) => n + r.findings.length, 0);
    expect(sarif.runs[0].results).toHaveLength(total);
    const secret = sarif.runs[0].results.find((r) => r.ruleId === 'secret');
    expect(secret).toMatchObject({
      level: 'error',
      locations: [
        {
          physicalLocation: {
            artifactLocation: { uri: 'test/fixtures/lint/secret.ipynb', uriBaseId: 'SRCROOT' },
          },
          logicalLocations: [
            { name: 'keys', fullyQualifiedName: 'test/fixtures/lint/secret.ipynb#cells[2]' },
          ],
        },
      ],
    });
  });

  it('reads rule levels from its config file and refuses an unknown rule', async () => {
    const config = loadLintConfig(join(FIXTURES, 'configured', '.rungate-lint.yaml'));
    expect(config.levels['untagged-mutating']).toBe('error');
    const { reports } = await lintNotebooks([await fixture('configured/http-write.ipynb')], {
      config,
      python: PYTHON,
    });
    expect(reports[0].findings.map((f) => [f.rule, f.severity])).toEqual([
      ['untagged-mutating', 'error'],
    ]);
    expect(() => parseLintConfig('rules:\n  no-such-rule: error\n', 'x.yaml')).toThrow(
      LintConfigError,
    );
    expect(() => parseLintConfig('rules:\n  secret: loud\n', 'x.yaml')).toThrow(
      /error, warning, note, off/,
    );
  });

  it('drops a secret the config allows', async () => {
    const config = parseLintConfig("secrets:\n  allow: ['^AKIAIOSFODNN7EXAMPLE$']\n", 'x.yaml');
    const { reports } = await lintNotebooks([await fixture('secret.ipynb')], {
      config,
      python: PYTHON,
    });
    expect(reports[0].findings.map(located)).toEqual([['secret', 2, 3, 29]]);
  });

  it('says when the Python rules could not run, and still checks the rest', async () => {
    const r = await lintNotebooks([await fixture('secret.ipynb')], {
      config: defaultLintConfig(),
      python: '/nonexistent/python3',
    });
    expect(r.pythonUnavailable).toMatch(/cannot run \/nonexistent\/python3/);
    expect(r.reports[0].findings.map((f) => f.rule)).toEqual(['secret', 'secret']);
  });
});

describe('the catalog with the linter', () => {
  let dir: string;
  let service: RunbooksService;
  let close: () => Promise<void>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rungate-lint-catalog-'));
    for (const name of ['clean.ipynb', 'secret.ipynb', 'http-write.ipynb', 'sql-dynamic.ipynb'])
      await writeFile(join(dir, name), await readFile(join(FIXTURES, name)));
    await writeFile(join(dir, '.rungate-lint.yaml'), 'rules:\n  sql-dynamic: error\n');
    const config = loadConfig({ NODE_ENV: 'test', RUNGATE_RUNBOOKS_DIR: dir }, ROOT);
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), RunbooksModule],
    }).compile();
    await moduleRef.init();
    service = moduleRef.get(RunbooksService);
    close = () => moduleRef.close();
  });

  afterAll(async () => {
    await close?.();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a runbook with a lint error, saying where', () => {
    const entry = service.list().find((e) => e.id === 'secret');
    expect(entry?.valid).toBe(false);
    expect(entry && !entry.valid && entry.reason).toMatch(
      /^lint: cells\[2\] \(id keys\) line 2:48: \[secret\] AWS access key id/,
    );
    expect(() => service.get('secret')).toThrow(/invalid/);
  });

  it('applies the catalog folder’s rule levels', () => {
    const entry = service.list().find((e) => e.id === 'sql-dynamic');
    expect(entry && !entry.valid && entry.reason).toMatch(/\[sql-dynamic\]/);
  });

  it('keeps warnings on a valid runbook, and none on a clean one', () => {
    expect(service.get('http-write').warnings).toEqual([
      expect.stringMatching(/^cells\[2\] \(id flush\) line 2:1: \[untagged-mutating\] HTTP POST/),
      expect.stringMatching(/^cells\[2\] \(id flush\) line 3:1: \[untagged-mutating\] HTTP DELETE/),
    ]);
    expect(service.get('clean').warnings).toEqual([]);
  });
});

describe('rungate lint (the built CLI)', () => {
  const gateway = 'http://127.0.0.1:9';
  const lint = async (args: string[]) =>
    runCli(['lint', ...args], { gateway, configHome: newConfigHome() }).done;

  it('exits 0 on the sample runbooks and says so', async () => {
    const r = await lint([]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${(await sampleRunbooks()).length} runbooks checked: no problems\n`);
    expect(r.code).toBe(0);
  });

  it('exits 1 when a finding is an error, with one line per finding', async () => {
    const r = await lint([
      'test/fixtures/lint/secret.ipynb',
      'test/fixtures/lint/http-write.ipynb',
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'test/fixtures/lint/secret.ipynb: cells[2] (id keys) line 2:48: error [secret] AWS access key id (AKIA…LE)',
    );
    expect(r.stdout).toMatch(/2 runbooks checked: 2 errors, 2 warnings\n$/);
  });

  it('exits 0 when only warnings are found', async () => {
    const r = await lint(['test/fixtures/lint/http-write.ipynb']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/1 runbook checked: 0 errors, 2 warnings\n$/);
  });

  it('writes one JSON document with --format json (and with --json)', async () => {
    for (const flag of [['--format', 'json'], ['--json']]) {
      const r = await lint([...flag, 'test/fixtures/lint/secret.ipynb']);
      expect(r.code).toBe(1);
      const doc = JSON.parse(r.stdout) as {
        summary: { errors: number };
        files: Array<{ findings: Finding[] }>;
      };
      expect(doc.summary.errors).toBe(2);
      expect(doc.files[0].findings.map(located)).toEqual(EXPECTED['secret.ipynb']);
    }
  });

  it('writes SARIF that validates, with --format sarif', async () => {
    const r = await lint(['--format', 'sarif', 'test/fixtures/lint']);
    expect(r.code).toBe(1);
    const validate = await sarifValidator();
    const doc = JSON.parse(r.stdout) as { runs: Array<{ results: unknown[] }> };
    expect(validate(doc), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(doc.runs[0].results.length).toBeGreaterThan(20);
  });

  it('takes rule levels from the nearest .rungate-lint.yaml', async () => {
    const r = await lint(['test/fixtures/lint/configured']);
    expect(r.stdout).toContain('error [untagged-mutating] HTTP POST');
    expect(r.stdout).not.toContain('execution-count');
    expect(r.code).toBe(1);
  });

  it('exits 2 for a path that does not exist or a broken config file', async () => {
    const missing = await lint(['no/such/runbooks']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('rungate: no such file or folder: no/such/runbooks\n');
    const dir = await mkdtemp(join(tmpdir(), 'rungate-lint-config-'));
    await writeFile(join(dir, 'bad.yaml'), 'rules:\n  no-such-rule: error\n');
    const bad = await lint(['--config', join(dir, 'bad.yaml'), 'runbooks']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown rule "no-such-rule"/);
    await rm(dir, { recursive: true, force: true });
  });
});
