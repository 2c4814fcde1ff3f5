/**
 * Exit codes of `rungate`, documented in docs/cli.md. Scripts branch on them, so each
 * means one thing and they never change meaning.
 */
export enum ExitCode {
  Ok = 0,
  /** Anything else that went wrong: the gateway refused the request, or could not be reached. */
  Failure = 1,
  /** The command line is wrong: unknown command or option, a missing or malformed argument. */
  Usage = 2,
  /** Not signed in, the sign-in expired, or a decision needs a more recent sign-in (step-up). */
  NotSignedIn = 3,
  /** Not allowed (policy) or not approved (the approval was denied, expired or not requested). */
  Denied = 4,
  /** A cell ended in an error, was interrupted, or its kernel died. */
  CellFailed = 5,
  /** Stopped by Ctrl-C (SIGINT). */
  Interrupted = 130,
}

/**
 * An error the CLI reports as one line (never a stack trace) and exits with `exitCode`.
 * `code` is a stable string for `--json` output.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

/**
 * The command has already printed its whole result (a lint report, say) and only its
 * exit code is left to give: nothing more is written, not even with `--json`.
 */
export class ReportedFailure extends CliError {
  constructor(exitCode: ExitCode, code: string) {
    super('', exitCode, code);
    this.name = 'ReportedFailure';
  }
}

/** A usage error found after commander parsed the line (e.g. a malformed `--param`). */
export function usageError(message: string): CliError {
  return new CliError(message, ExitCode.Usage, 'usage');
}

/** The person has no (usable) credentials for the gateway. */
export function notSignedIn(gateway: string, why: string): CliError {
  return new CliError(
    `${why}: run \`rungate login --gateway ${gateway}\``,
    ExitCode.NotSignedIn,
    'not_signed_in',
  );
}
