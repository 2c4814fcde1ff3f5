import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { CliError, ExitCode } from './errors';
import { failureOf } from './failure';
import { ApiError } from './gateway-client';

const problem = (status: number, code: string, detail = 'it went wrong') =>
  new ApiError({ status, code, detail });

describe(failureOf.name, () => {
  it('keeps the exit code of the CLI’s own errors', () => {
    expect(failureOf(new CliError('stopped', ExitCode.CellFailed, 'cell_failed'))).toEqual({
      exitCode: ExitCode.CellFailed,
      code: 'cell_failed',
      message: 'stopped',
    });
  });

  it('maps the gateway’s problems onto exit codes', () => {
    expect(failureOf(problem(401, 'step_up_required')).exitCode).toBe(ExitCode.NotSignedIn);
    const refused = failureOf(problem(401, 'unauthenticated', 'token has expired'));
    expect(refused.exitCode).toBe(ExitCode.NotSignedIn);
    expect(refused.message).toContain('rungate login');
    expect(failureOf(problem(403, 'forbidden')).exitCode).toBe(ExitCode.Denied);
    expect(failureOf(problem(409, 'busy'))).toEqual({
      exitCode: ExitCode.Failure,
      code: 'busy',
      message: 'it went wrong (busy)',
    });
  });

  it('treats command-line errors as usage, and anything else as one line', () => {
    expect(failureOf(new CommanderError(1, 'commander.unknownOption', 'x')).exitCode).toBe(
      ExitCode.Usage,
    );
    const other = failureOf(new Error('first line\n    at somewhere (file.ts:1:1)'));
    expect(other).toEqual({ exitCode: ExitCode.Failure, code: 'error', message: 'first line' });
  });
});
