import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { normalizeNotebook } from '../../src/runbooks/notebook';
import { newConfigHome, runCli } from '../support/cli';
import { ROOT } from '../support/gateway';

/** The CLI talks to no gateway here; the URL only satisfies the helper. */
const NO_GATEWAY = 'http://127.0.0.1:9';

/** Parses XML with a real parser (Python's ElementTree) and answers its test cases. */
function junitCases(xml: string): {
  suites: Array<{ name: string; tests: string; failures: string }>;
  cases: Array<{
    suite: string;
    name: string;
    failure?: { type: string; message: string; text: string };
    skipped: boolean;
  }>;
} {
  const script = [
    'import json, sys, xml.etree.ElementTree as ET',
    'root = ET.fromstring(sys.stdin.read())',
    'assert root.tag == "testsuites", root.tag',
    'suites = [dict(name=s.get("name"), tests=s.get("tests"), failures=s.get("failures")) for s in root.iter("testsuite")]',
    'cases = []',
    'for s in root.iter("testsuite"):',
    '    for c in s.iter("testcase"):',
    '        f = c.find("failure")',
    '        cases.append(dict(suite=s.get("name"), name=c.get("name"), skipped=c.find("skipped") is not None,',
    '            failure=None if f is None else dict(type=f.get("type"), message=f.get("message"), text=f.text or "")))',
    'print(json.dumps(dict(suites=suites, cases=cases)))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script], { input: xml, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`not JUnit XML: ${r.stderr}\n${xml}`);
  const parsed = JSON.parse(r.stdout) as ReturnType<typeof junitCases>;
  for (const c of parsed.cases) if (c.failure === null) delete c.failure;
  return parsed;
}

describe('rungate test', () => {
  const dirs: string[] = [];
  const configHome = newConfigHome();
  dirs.push(configHome);
  const cli = (args: string[]) => runCli(args, { gateway: NO_GATEWAY, configHome }).done;
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('runs the sample runbooks green against demo-shop, never their mutating cells', async () => {
    const { code, stdout, stderr } = await cli(['test', 'runbooks']);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    for (const id of [
      'db/replication-lag',
      'shop/cache-hit-rate',
      'shop/checkout-errors',
      'shop/order-lookup',
      'shop/recent-flag-changes',
      'shop/stuck-jobs',
    ])
      expect(stdout).toMatch(new RegExp(`^PASS ${id}: \\d+ passed, 0 failed`, 'm'));
    expect(stdout).toMatch(/- retry {2}tagged mutating/);
    expect(stdout).toMatch(/6 runbook\(s\) against staging: 6 passed, 0 failed/);
  });

  it('fails with the cell, the error and the traceback when a cell breaks, and writes JUnit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rungate-broken-'));
    dirs.push(dir);
    const nb = JSON.parse(
      readFileSync(join(ROOT, 'runbooks', 'shop', 'stuck-jobs.ipynb'), 'utf8'),
    ) as { cells: Array<{ id: string; source: string | string[] }> };
    const queues = nb.cells.find((c) => c.id === 'queues');
    if (!queues) throw new Error('the sample changed: no cell "queues"');
    queues.source = 'queues = shop.get("/api/jobs/queues")\nrungate.table(queues_by_name)';
    writeFileSync(join(dir, 'broken.ipynb'), JSON.stringify(nb));
    writeFileSync(
      join(dir, 'fine.ipynb'),
      readFileSync(join(ROOT, 'runbooks', 'db', 'replication-lag.ipynb')),
    );

    const text = await cli(['test', dir]);
    expect(text.code, text.stderr).toBe(5);
    expect(text.stdout).toMatch(/✗ queues .*NameError: name 'queues_by_name' is not defined/);
    // The traceback names the line of the cell that broke.
    expect(text.stdout).toMatch(/rungate\.table\(queues_by_name\)/);
    expect(text.stdout).toMatch(/- stuck-jobs {2}not run: an earlier cell failed/);
    expect(text.stdout).toMatch(/^FAIL broken: /m);
    expect(text.stdout).toMatch(/^PASS fine: /m);
    expect(text.stderr).toMatch(/rungate: a cell failed: broken/);

    const junitFile = join(dir, 'report.xml');
    const junit = await cli([
      'test',
      dir,
      '--format',
      'junit',
      '-o',
      junitFile,
      '-p',
      'queue=emails',
    ]);
    expect(junit.code, junit.stderr).toBe(5);
    const report = junitCases(readFileSync(junitFile, 'utf8'));
    expect(report.suites.map((s) => [s.name, s.failures])).toEqual([
      ['broken', '1'],
      ['fine', '0'],
    ]);
    const failed = report.cases.filter((c) => c.failure);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      suite: 'broken',
      name: 'cell queues',
      failure: { type: 'NameError', message: "NameError: name 'queues_by_name' is not defined" },
    });
    // The traceback without terminal colours.
    expect(failed[0].failure?.text).toMatch(/queues_by_name/);
    expect(failed[0].failure?.text).not.toContain('\u001b[');
    expect(report.cases.find((c) => c.name === 'cell retry')?.skipped).toBe(true);
    expect(report.cases.find((c) => c.suite === 'fine' && c.name === 'cell lag')).toEqual({
      suite: 'fine',
      name: 'cell lag',
      skipped: false,
    });
  });

  it('refuses a production environment before anything runs', async () => {
    const { code, stderr } = await cli(['test', 'runbooks', '--target-env', 'prod']);
    expect(code).toBe(4);
    expect(stderr).toMatch(/never runs against production/);
  });
});

describe('rungate convert', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rungate-convert-'));
  const configHome = newConfigHome();
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(configHome, { recursive: true, force: true });
  });
  const cli = (args: string[]) => runCli(args, { gateway: NO_GATEWAY, configHome }).done;

  it('turns a notebook into Markdown and back into the same normalized notebook', async () => {
    const source = join(ROOT, 'runbooks', 'shop', 'checkout-errors.ipynb');
    const md = join(dir, 'checkout-errors.md');
    const toMd = await cli(['convert', source, '-o', md, '--json']);
    expect(toMd.code, toMd.stderr).toBe(0);
    const written = JSON.parse(toMd.stdout) as { to: string; version: string };
    expect(written.to).toBe('md');
    const text = readFileSync(md, 'utf8');
    expect(text).toMatch(/^```\{code-cell\}\n---\nid: enable-fallback\ntags: \[mutating\]\n/m);

    const back = await cli(['convert', md]);
    expect(back.code, back.stderr).toBe(0);
    const original = JSON.parse(readFileSync(source, 'utf8')) as Record<string, unknown>;
    const roundTrip = JSON.parse(
      readFileSync(join(dir, 'checkout-errors.ipynb'), 'utf8'),
    ) as Record<string, unknown>;
    expect(normalizeNotebook(roundTrip)).toBe(normalizeNotebook(original));
  });

  it('refuses what it cannot convert exactly, naming the cell', async () => {
    const bad = join(dir, 'bad.ipynb');
    writeFileSync(
      bad,
      JSON.stringify({
        nbformat: 4,
        nbformat_minor: 5,
        metadata: {},
        cells: [{ id: 'notes', cell_type: 'markdown', metadata: {}, source: 'trailing\n\n' }],
      }),
    );
    const { code, stderr } = await cli(['convert', bad]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/bad\.ipynb: cells\[0\] \(id notes\): a Markdown cell/);
  });
});
