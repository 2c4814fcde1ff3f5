#!/usr/bin/env node
import { CommanderError } from 'commander';
import { ExitCode, ReportedFailure } from './errors';
import { failureOf } from './failure';
import { buildProgram } from './program';

/** Runs the CLI with `argv` and answers the exit code; never throws. */
export async function run(argv: readonly string[]): Promise<number> {
  const interrupt = new AbortController();
  const onSigint = (): void => {
    // The first Ctrl-C stops what runs (and ends the session); a second one leaves at once.
    if (interrupt.signal.aborted) process.exit(ExitCode.Interrupted);
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  const program = buildProgram({
    streams: { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin },
    env: process.env,
    signal: interrupt.signal,
  });
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return ExitCode.Ok;
  } catch (err) {
    if (
      err instanceof CommanderError &&
      (err.exitCode === 0 ||
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version')
    ) {
      return ExitCode.Ok;
    }
    if (err instanceof ReportedFailure) return err.exitCode;
    const failure = failureOf(err);
    if (failure.message !== '') process.stderr.write(`rungate: ${failure.message}\n`);
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ error: { code: failure.code, message: failure.message, exitCode: failure.exitCode } }, null, 2)}\n`,
      );
    }
    return failure.exitCode;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

if (require.main === module) {
  void run(process.argv).then((code) => {
    // Exit once stdout is flushed: an idle keep-alive socket must not hold the terminal.
    process.stdout.write('', () => process.exit(code));
  });
}
