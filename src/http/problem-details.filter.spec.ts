import { BadRequestException, ServiceUnavailableException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { ErrorCode, RungateError } from '../common/errors';
import { ProblemDetailsFilter } from './problem-details.filter';

describe(ProblemDetailsFilter.name, () => {
  const filter = new ProblemDetailsFilter();

  it('keeps a data body (a readiness report) as extensions, never over its own members', () => {
    const p = filter.toProblem(
      new ServiceUnavailableException({
        status: 'error',
        error: { database: { status: 'down', message: 'connect ECONNREFUSED' } },
        details: { database: { status: 'down' } },
      }),
    );
    expect(p.status).toBe(503);
    expect(p.code).toBe(ErrorCode.Unavailable);
    expect(p.details).toEqual({ database: { status: 'down' } });
    expect(p.error).toEqual({ database: { status: 'down', message: 'connect ECONNREFUSED' } });
  });

  it('lists framework validation messages in the shape of ours', () => {
    const p = filter.toProblem(new BadRequestException(['a is wrong', 'b is wrong']));
    expect(p.errors).toEqual([{ message: 'a is wrong' }, { message: 'b is wrong' }]);
    expect(p.detail).toBe('a is wrong; b is wrong');
    expect(Object.keys(p)).not.toContain('statusCode');
  });

  it('answers 405 for method_not_allowed', () => {
    const p = filter.toProblem(new RungateError(ErrorCode.MethodNotAllowed, 'PUT is not allowed'));
    expect(p).toMatchObject({
      status: 405,
      title: 'Method Not Allowed',
      code: 'method_not_allowed',
    });
  });
});
