/**
 * JUnit XML for CI systems (Jenkins, GitLab, GitHub reporters): one `<testsuite>` per
 * runbook, one `<testcase>` per code cell; a failing cell is a `<failure>` carrying the
 * exception and its traceback, a cell not run is `<skipped>`, a runbook that could not
 * be tested at all is one `<error>` case. Schema as the Ant/Surefire reporters write it:
 * https://github.com/testmoapp/junitxml
 */
import type { RunbookTestReport } from './runbook-test.types';

/** ANSI colour sequences (IPython colours tracebacks). */
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;
/** Characters XML 1.0 cannot hold at all, even escaped. */
// eslint-disable-next-line no-control-regex
const NOT_XML = /[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

function esc(text: string): string {
  return stripAnsi(text)
    .replace(NOT_XML, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

export function toJunit(report: RunbookTestReport): string {
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const all = report.runbooks;
  const count = (pick: (r: (typeof all)[number]) => number) => all.reduce((n, r) => n + pick(r), 0);
  const tests = count((r) => Math.max(r.cells.length, r.error ? 1 : 0));
  const failures = count((r) => r.cells.filter((c) => c.status === 'failed').length);
  const errors = count((r) => (r.error ? 1 : 0));
  const skipped = count((r) => r.cells.filter((c) => c.status === 'skipped').length);
  out.push(
    `<testsuites name="rungate test" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${seconds(report.durationMs)}">`,
  );
  for (const r of all) {
    const suiteFailures = r.cells.filter((c) => c.status === 'failed').length;
    const suiteSkipped = r.cells.filter((c) => c.status === 'skipped').length;
    out.push(
      `  <testsuite name="${esc(r.id)}" tests="${Math.max(r.cells.length, r.error ? 1 : 0)}" failures="${suiteFailures}" errors="${r.error ? 1 : 0}" skipped="${suiteSkipped}" time="${seconds(r.durationMs)}" timestamp="${esc(r.startedAt)}" file="${esc(r.path)}">`,
    );
    out.push('    <properties>');
    out.push(`      <property name="target-env" value="${esc(report.targetEnv)}"/>`);
    if (r.version) out.push(`      <property name="version" value="${esc(r.version)}"/>`);
    for (const [name, target] of Object.entries(r.targets))
      out.push(`      <property name="target:${esc(name)}" value="${esc(target)}"/>`);
    out.push('    </properties>');
    if (r.error) {
      out.push(`    <testcase classname="${esc(r.id)}" name="runbook" time="0.000">`);
      out.push(`      <error type="RunbookError" message="${esc(r.error)}"/>`);
      out.push('    </testcase>');
    }
    for (const c of r.cells) {
      const open = `    <testcase classname="${esc(r.id)}" name="${esc(`cell ${c.id}`)}" time="${seconds(c.durationMs)}" file="${esc(r.path)}">`;
      out.push(open);
      if (c.status === 'failed') {
        const message = `${c.failure.ename}: ${c.failure.evalue}`;
        const body = c.failure.traceback.length > 0 ? c.failure.traceback.join('\n') : message;
        out.push(
          `      <failure type="${esc(c.failure.ename)}" message="${esc(message)}">${esc(body)}</failure>`,
        );
      } else if (c.status === 'skipped') {
        out.push(`      <skipped message="${esc(c.reason)}"/>`);
      }
      if (c.output !== '') out.push(`      <system-out>${esc(c.output)}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}
