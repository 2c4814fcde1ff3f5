import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import type { HeadersObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ErrorCode, httpStatusOf } from '../../common/errors';
import { PROBLEM_TITLES } from '../problem-details.filter';
import { FieldErrorDto, ProblemDto } from './problem.dto';

/** The media type of every error answer (RFC 9457). */
export const PROBLEM_JSON = 'application/problem+json';

/**
 * What the global guards may answer on any route that is not public: no or a bad
 * credential (401), too many refused ones from the address (429), a policy refusal or
 * a cookie request without its CSRF token (403), and an issuer or database that cannot
 * be reached while deciding (503).
 */
export const GUARDED: readonly ErrorCode[] = [
  ErrorCode.Unauthenticated,
  ErrorCode.Forbidden,
  ErrorCode.CsrfFailed,
  ErrorCode.TooManyRequests,
  ErrorCode.Unavailable,
];

/**
 * What a route that reads a JSON body may answer before its handler runs: a body that
 * does not parse, nests too deep or fails its DTO (400), or one past the size limit (413).
 */
export const WITH_BODY: readonly ErrorCode[] = [
  ErrorCode.InvalidRequest,
  ErrorCode.PayloadTooLarge,
];

/** Headers some problem answers carry (set by ProblemDetailsFilter). */
const HEADERS: Partial<Record<number, HeadersObject>> = {
  401: {
    'WWW-Authenticate': {
      description: 'The bearer challenge (RFC 6750), with the error when a token was refused',
      schema: { type: 'string' },
    },
  },
  429: {
    'Retry-After': {
      description: 'Seconds to wait before trying again',
      schema: { type: 'string', pattern: '^[0-9]+$' },
    },
  },
};

/**
 * Declares the error answers of an operation from the domain codes it can carry:
 * grouped by the status each code maps to (httpStatusOf, the filter's own mapping),
 * each an `application/problem+json` ProblemDto whose `code` is narrowed to them.
 */
export function ApiProblems(...codes: readonly ErrorCode[]): MethodDecorator & ClassDecorator {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const code of codes) {
    const status = httpStatusOf(code);
    const set = byStatus.get(status) ?? new Set<ErrorCode>();
    set.add(code);
    byStatus.set(status, set);
  }
  const decorators = [...byStatus.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, set]) => problemResponse(status, [...set]));
  return applyDecorators(ApiExtraModels(ProblemDto, FieldErrorDto), ...decorators);
}

/** One problem answer: the shared schema with `status` and `code` narrowed. */
export function problemResponse(
  status: number,
  codes: readonly string[],
  description = `Problem details; \`code\` is one of: ${codes.join(', ')}`,
): MethodDecorator & ClassDecorator {
  return ApiResponse({
    status,
    description,
    ...(HEADERS[status] && { headers: HEADERS[status] }),
    content: {
      [PROBLEM_JSON]: {
        schema: {
          allOf: [
            { $ref: getSchemaPath(ProblemDto) },
            {
              type: 'object',
              properties: {
                status: { type: 'integer', enum: [status] },
                code: { type: 'string', enum: [...codes] },
              },
            },
          ],
        },
        example: {
          type: `urn:rungate:problem:${codes[0]}`,
          title: PROBLEM_TITLES[status] ?? 'Error',
          status,
          detail: EXAMPLE_DETAIL[codes[0]] ?? codes[0].replace(/_/g, ' '),
          code: codes[0],
        },
      },
    },
  });
}

const EXAMPLE_DETAIL: Partial<Record<string, string>> = {
  [ErrorCode.InvalidRequest]: 'reason must be longer than or equal to 3 characters',
  [ErrorCode.Unauthenticated]: 'a bearer token is required',
  [ErrorCode.StepUpRequired]: 'this decision needs a sign-in within the last 900 s',
  [ErrorCode.Forbidden]: 'not allowed: session:start',
  [ErrorCode.ApprovalRequired]: 'cell enable-fallback changes production and needs an approval',
  [ErrorCode.NotFound]: 'no session 0195f3f0-0000-7000-8000-000000000000',
  [ErrorCode.Conflict]: 'the approval is approved, not pending',
  [ErrorCode.SessionEnded]: 'the session has ended',
  [ErrorCode.Busy]: 'too many cells queued in this session (16); try again when some have run',
  [ErrorCode.RunbookInvalid]: 'runbook shop/broken is invalid: cell 3 has no id',
  [ErrorCode.PayloadTooLarge]: 'the request body is larger than this gateway accepts',
  [ErrorCode.KernelUnavailable]: 'no kernel could be started for this session',
  [ErrorCode.MethodNotAllowed]: 'PATCH is not allowed on /v1/runbooks; allowed: GET, HEAD',
  [ErrorCode.TooManyRequests]: 'too many refused sign-ins from this address; try again in 42 s',
  [ErrorCode.Unavailable]: 'the audit trail cannot be written; nothing ran',
};
