/**
 * The curation commands that work on files, with no gateway: `rungate convert` and
 * `rungate test` (docs/cli.md).
 */
import { Logger, type LoggerService } from '@nestjs/common';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, loadConfig } from '../config/load-config';
import { ConvertError, convertFile, defaultOutput } from '../curation/convert/convert';
import { stripAnsi, toJunit } from '../curation/runbook-test/junit';
import { RunbookNotFoundError, testRunbooks } from '../curation/runbook-test/runbook-test';
import type { RunbookTestResult } from '../curation/runbook-test/runbook-test.types';
import { TestSetupError } from '../curation/runbook-test/test-environment';
import { CliError, ExitCode } from './errors';
import type { ParamAssignment } from './params';
import type { CliContext } from './program';
import type { Streams, Terminal } from './terminal';

export interface RunbookTestCliOptions {
  readonly targetEnv: string;
  readonly targets?: string;
  readonly param: ParamAssignment[];
  readonly format: 'text' | 'junit';
  readonly output?: string;
}

export async function runConvert(
  input: string,
  output: string | undefined,
  term: Terminal,
  streams: Streams,
): Promise<void> {
  let conversion;
  try {
    conversion = await convertFile(input);
  } catch (err) {
    if (err instanceof ConvertError)
      throw new CliError(err.message, ExitCode.Failure, 'convert_failed');
    throw err;
  }
  if (output === '-') {
    streams.stdout.write(conversion.text);
    return;
  }
  const file = output ?? defaultOutput(input, conversion.to);
  await writeFile(file, conversion.text);
  term.result({
    input,
    output: file,
    from: conversion.from,
    to: conversion.to,
    version: conversion.version,
  });
  term.print(`Wrote ${file} (version ${conversion.version.slice(0, 12)}).`);
  if (dirname(resolve(file)) === dirname(resolve(input))) {
    term.note(
      term.dim(
        'Keep one of the two files in the catalog folder: an id defined twice is an invalid runbook.',
      ),
    );
  }
}

/** Nest's logger (used by the kernel machinery) on stderr, warnings and errors only. */
class StderrLogger implements LoggerService {
  constructor(private readonly stderr: NodeJS.WritableStream) {}
  log(): void {}
  verbose(): void {}
  debug(): void {}
  warn(message: unknown, context?: string): void {
    this.stderr.write(`rungate: ${context ? `${context}: ` : ''}${String(message)}\n`);
  }
  error(message: unknown, _trace?: string, context?: string): void {
    this.warn(message, context);
  }
  fatal(message: unknown, context?: string): void {
    this.warn(message, context);
  }
}

function printResult(r: RunbookTestResult, term: Terminal): void {
  const clean = (text: string) => (term.color ? text : stripAnsi(text));
  const against = Object.entries(r.targets)
    .map(([name, target]) => (target.startsWith(`${name} `) ? target : `${name} → ${target}`))
    .join(', ');
  term.print(
    term.bold(`${r.id}`) + term.dim(`  ${r.path}${against ? `  against ${against}` : ''}`),
  );
  if (r.error) term.print(`  ${term.red('✗ cannot be tested:')} ${r.error}`);
  for (const c of r.cells) {
    const time = term.dim(`${c.durationMs} ms`);
    if (c.status === 'passed') term.print(`  ${term.green('✓')} ${c.id} ${time}`);
    else if (c.status === 'skipped') term.print(`  ${term.dim(`- ${c.id}  ${c.reason}`)}`);
    else {
      term.print(
        `  ${term.red('✗')} ${c.id} ${time}  ${term.red(`${c.failure.ename}: ${c.failure.evalue}`)}`,
      );
      for (const line of c.failure.traceback.join('\n').split('\n'))
        term.print(`      ${clean(line)}`);
    }
  }
  const count = (s: string) => r.cells.filter((c) => c.status === s).length;
  const verdict =
    r.status === 'passed'
      ? term.green('PASS')
      : r.status === 'failed'
        ? term.red('FAIL')
        : term.red('ERROR');
  term.print(
    `${verdict} ${r.id}: ${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped (${(r.durationMs / 1000).toFixed(1)} s)\n`,
  );
}

export async function runRunbookTests(
  target: string,
  o: RunbookTestCliOptions,
  term: Terminal,
  ctx: CliContext,
): Promise<void> {
  let config;
  try {
    config = loadConfig(ctx.env);
  } catch (err) {
    if (err instanceof ConfigError)
      throw new CliError(err.message, ExitCode.Usage, 'invalid_configuration');
    throw err;
  }
  // The kernel machinery logs through Nest; its chatter must not mix with the report.
  Logger.overrideLogger(new StderrLogger(ctx.streams.stderr));
  const toStdout = o.output === undefined || o.output === '-';
  // JUnit on standard output: nothing else may go there.
  const showText = o.format === 'text' && !term.json;
  let report;
  try {
    report = await testRunbooks({
      target,
      targetEnv: o.targetEnv,
      targetsFile: o.targets ?? ctx.env.RUNGATE_TARGETS_FILE,
      params: o.param,
      config,
      env: ctx.env,
      cwd: process.cwd(),
      signal: ctx.signal,
      onRunbook: (id) => term.startSpinner(`testing ${id}`),
      onCell: (id, cell) => term.updateSpinner(`testing ${id}: cell ${cell}`),
      onResult: (r) => {
        term.stopSpinner();
        if (showText && toStdout) printResult(r, term);
        else
          term.note(
            `${r.status === 'passed' ? 'PASS' : r.status === 'failed' ? 'FAIL' : 'ERROR'} ${r.id}`,
          );
      },
    });
  } catch (err) {
    term.stopSpinner();
    if (err instanceof TestSetupError) throw new CliError(err.message, ExitCode.Denied, 'refused');
    if (err instanceof RunbookNotFoundError)
      throw new CliError(err.message, ExitCode.Usage, 'not_found');
    if (err instanceof ConfigError)
      throw new CliError(err.message, ExitCode.Usage, 'invalid_configuration');
    throw err;
  }
  if (ctx.signal.aborted) throw new CliError('interrupted', ExitCode.Interrupted, 'interrupted');
  if (o.format === 'junit') {
    const xml = toJunit(report);
    if (toStdout) ctx.streams.stdout.write(xml);
    else await writeFile(o.output as string, xml);
  } else if (!toStdout) {
    await writeFile(o.output as string, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (o.format !== 'junit' || !toStdout) term.result(report);
  const failed = report.runbooks.filter((r) => r.status !== 'passed');
  const summary = `${report.runbooks.length} runbook(s) against ${report.targetEnv}: ${report.runbooks.length - failed.length} passed, ${failed.length} failed`;
  if (showText && toStdout) term.print(summary);
  else term.note(summary);
  if (report.runbooks.some((r) => r.status === 'failed'))
    throw new CliError(
      `a cell failed: ${failed.map((r) => r.id).join(', ')}`,
      ExitCode.CellFailed,
      'cell_failed',
    );
  if (failed.length > 0)
    throw new CliError(
      `could not be tested: ${failed.map((r) => r.id).join(', ')}`,
      ExitCode.Failure,
      'test_error',
    );
}
