import { CommanderError } from 'commander';
import { CliError, ExitCode } from './errors';
import { ApiError } from './gateway-client';

/** How an error ends the process: its exit code, a stable code and one line for people. */
export function failureOf(err: unknown): { exitCode: ExitCode; code: string; message: string } {
  if (err instanceof CliError)
    return { exitCode: err.exitCode, code: err.code, message: err.message };
  if (err instanceof ApiError) {
    const message = `${err.message} (${err.code})`;
    if (err.code === 'step_up_required') {
      return { exitCode: ExitCode.NotSignedIn, code: err.code, message };
    }
    if (err.status === 401) {
      return {
        exitCode: ExitCode.NotSignedIn,
        code: err.code,
        message: `the gateway refused your sign-in (${err.message}): run \`rungate login\``,
      };
    }
    if (err.status === 403) return { exitCode: ExitCode.Denied, code: err.code, message };
    return { exitCode: ExitCode.Failure, code: err.code, message };
  }
  if (err instanceof CommanderError) {
    // Commander printed the message (and usage) already.
    return { exitCode: ExitCode.Usage, code: 'usage', message: '' };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: ExitCode.Failure, code: 'error', message: message.split('\n')[0] };
}
