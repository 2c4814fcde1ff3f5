/**
 * The alert rules and the dashboard in deploy/, against the real promtool (Debian's
 * `prometheus` package, installed by scripts/install-system-deps.sh) and the
 * gateway's own registry: the rules are valid and their unit tests pass, every
 * dashboard query parses, every series either names is one the gateway exports, and
 * every alert links to a section of docs/operations.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import '../../src/audit/audit.metrics';
import { metricsRegistry } from '../../src/telemetry/metrics';
import { ROOT } from '../support/gateway';
import { isExported, metricNamesOf } from '../support/prometheus';
import {
  dashboardExpressions,
  RULES_FILE,
  RULES_TEST_FILE,
  ruleExpressions,
} from '../support/prometheus-files';

interface Run {
  code: number | null;
  output: string;
}

function promtool(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) =>
      reject(
        new Error(
          `promtool could not run (${err.message}); scripts/install-system-deps.sh installs it`,
        ),
      ),
    );
    child.on('close', (code) => resolve({ code, output }));
  });
}

/** Grafana's variables as a query would see them once substituted. */
function asPromql(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '5m')
    .replaceAll('$__range', '1h')
    .replaceAll('$instance', '.*');
}

/** GitHub's anchor of a Markdown heading. */
function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

describe('deploy/prometheus and deploy/grafana', () => {
  let exported: Map<string, string>;
  let scratch: string;

  beforeAll(async () => {
    exported = new Map(
      (await metricsRegistry.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]),
    );
    scratch = mkdtempSync(join(tmpdir(), 'rungate-promtool-'));
  });

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('has valid rules (promtool check rules)', async () => {
    const run = await promtool(['check', 'rules', RULES_FILE], ROOT);
    expect(run.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(run.code, run.output).toBe(0);
  });

  it('passes its rule unit tests (promtool test rules)', async () => {
    const run = await promtool(['test', 'rules', RULES_TEST_FILE], dirname(RULES_TEST_FILE));
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('SUCCESS');
  });

  it('fails a rule unit test whose expectation is wrong', async () => {
    // The same tests, one expected value changed: promtool must notice.
    const broken = readFileSync(RULES_TEST_FILE, 'utf8').replace(
      "labels: 'rungate:kernel_error_ratio:rate1h'\n            value: 0.1",
      "labels: 'rungate:kernel_error_ratio:rate1h'\n            value: 0.2",
    );
    expect(broken).not.toBe(readFileSync(RULES_TEST_FILE, 'utf8'));
    writeFileSync(join(scratch, 'rules.yml'), readFileSync(RULES_FILE));
    writeFileSync(join(scratch, 'broken.test.yml'), broken);
    const run = await promtool(['test', 'rules', 'broken.test.yml'], scratch);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('FAILED');
  });

  it('has dashboard queries that are valid PromQL', async () => {
    const queries = dashboardExpressions();
    expect(queries.length).toBeGreaterThan(30);
    // promtool parses rule expressions: one recording rule per query.
    const file = join(scratch, 'dashboard-queries.yml');
    writeFileSync(
      file,
      stringify({
        groups: [
          {
            name: 'dashboard',
            rules: queries.map((q, i) => ({
              record: `dashboard:query:${i}`,
              expr: asPromql(q.expr),
            })),
          },
        ],
      }),
    );
    const run = await promtool(['check', 'rules', file], scratch);
    expect(run.code, run.output).toBe(0);
  });

  it('queries only series the gateway exports', () => {
    expect(exported.has('rungate_kernel_starts_total')).toBe(true);
    const recorded = new Set(ruleExpressions().flatMap((r) => (r.record ? [r.record] : [])));
    const missing: string[] = [];
    for (const { where, expr } of dashboardExpressions()) {
      for (const name of metricNamesOf(expr)) {
        if (!isExported(name, exported)) missing.push(`${name} (${where})`);
      }
    }
    for (const { where, expr } of ruleExpressions()) {
      for (const name of metricNamesOf(expr)) {
        if (!recorded.has(name) && !isExported(name, exported)) missing.push(`${name} (${where})`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('extracts metric names from PromQL as the check needs', () => {
    expect(
      [
        ...metricNamesOf(
          'histogram_quantile(0.99, sum by (le, kernel) (rate(a_seconds_bucket{kernel="warm",x=~"$instance"}[$__rate_interval])))' +
            ' / ignoring(le) group_left b_total offset 5m > bool 1e3 and on () c:rec:rate5m',
        ),
      ].sort(),
    ).toEqual(['a_seconds_bucket', 'b_total', 'c:rec:rate5m']);
    expect(isExported('rungate_kernel_uptime_seconds_bucket', exported)).toBe(true);
    expect(isExported('rungate_kernel_starts_total_bucket', exported)).toBe(false);
    expect(isExported('rungate_no_such_series', exported)).toBe(false);
  });

  it('links every alert to a section of docs/operations.md', () => {
    const doc = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const anchors = new Set([...doc.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1])));
    const rules = readFileSync(RULES_FILE, 'utf8');
    const links = [...rules.matchAll(/runbook_url: docs\/operations\.md#([a-z0-9-]+)/g)].map(
      (m) => m[1],
    );
    const alerts = [...rules.matchAll(/- alert: /g)].length;
    expect(links.length).toBe(alerts);
    expect(links.filter((a) => !anchors.has(a))).toEqual([]);
  });
});
