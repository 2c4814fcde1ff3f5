import { ProxiedAnswer, ResponseProxied } from './forwarding';
import {
  ArgumentsHost,
  Catch,
  HttpException,
  HttpStatus,
  Logger,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { ErrorCode, RungateError, httpStatusOf } from '../common/errors';

/** An RFC 9457 problem document. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  [extension: string]: unknown;
}

/** The status texts problem documents carry as `title`. */
export const PROBLEM_TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** Codes for framework errors that do not come from our domain. */
const CODE_BY_STATUS: Record<number, string> = {
  400: ErrorCode.InvalidRequest,
  401: ErrorCode.Unauthenticated,
  403: ErrorCode.Forbidden,
  404: ErrorCode.NotFound,
  409: ErrorCode.Conflict,
  413: ErrorCode.PayloadTooLarge,
  503: ErrorCode.Unavailable,
};

export function problemType(code: string): string {
  return `urn:rungate:problem:${code}`;
}

/**
 * Every error leaves as problem details. Domain errors keep their message and
 * extensions; framework errors keep their (safe) message; anything else is a
 * generic 500 whose stack goes to the log, never to the client.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly log = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    // The replica holding the session answered, and its answer went out as it came.
    if (exception instanceof ResponseProxied) return;
    const ctx = host.switchToHttp();
    if (exception instanceof ProxiedAnswer) {
      const res = ctx.getResponse<Response>();
      if (res.headersSent) {
        res.end();
        return;
      }
      res.writeHead(exception.status, exception.headers).end(exception.body);
      return;
    }
    const req = ctx.getRequest<Request>();
    const res = ctx.getResponse<Response>();
    const problem = this.toProblem(exception);
    problem.instance = req.originalUrl?.split('?')[0];
    if (res.headersSent) {
      // A stream already started (SSE): all that is left is to end it.
      res.end();
      return;
    }
    const wwwAuthenticate = problem.wwwAuthenticate;
    if (typeof wwwAuthenticate === 'string') {
      res.setHeader('WWW-Authenticate', wwwAuthenticate);
      delete problem.wwwAuthenticate;
    }
    if (typeof problem.retryAfterSeconds === 'number') {
      res.setHeader('Retry-After', String(problem.retryAfterSeconds));
    }
    res.status(problem.status).type('application/problem+json').send(JSON.stringify(problem));
  }

  toProblem(exception: unknown): Problem {
    if (exception instanceof RungateError) {
      const status = httpStatusOf(exception.code);
      if (status >= 500)
        this.log.warn({ err: exception, cause: exception.cause }, exception.message);
      return {
        ...exception.extensions,
        type: problemType(exception.code),
        title: PROBLEM_TITLES[status] ?? 'Error',
        status,
        detail: exception.message,
        code: exception.code,
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const code = CODE_BY_STATUS[status] ?? `http_${status}`;
      const body = exception.getResponse();
      const messages =
        typeof body === 'object' && body !== null ? (body as { message?: unknown }).message : body;
      const list = Array.isArray(messages) ? messages.map(String) : undefined;
      const detail = list
        ? list.join('; ')
        : typeof messages === 'string'
          ? messages
          : exception.message;
      return {
        ...dataOf(body),
        type: problemType(code),
        title: PROBLEM_TITLES[status] ?? 'Error',
        status,
        detail,
        code,
        // The same shape as validation errors (ProblemDto.errors).
        ...(list ? { errors: list.map((message) => ({ message })) } : {}),
      };
    }
    const bodyParser = asBodyParserError(exception);
    if (bodyParser) return bodyParser;
    this.log.error({ err: exception }, 'unhandled error');
    return {
      type: problemType('internal'),
      title: PROBLEM_TITLES[500],
      status: HttpStatus.INTERNAL_SERVER_ERROR,
      detail: 'An unexpected error occurred; it has been logged.',
      code: 'internal',
    };
  }
}

/** Problem members the filter writes itself; an exception's body never overrides them. */
const RESERVED = new Set(['type', 'title', 'status', 'detail', 'instance', 'code', 'errors']);

/**
 * The members of an HttpException body that is data rather than a message (terminus's
 * readiness report: `info`, `error`, `details`), kept as problem extensions so a 503
 * from /readyz still says which check is down. Nest's own `{ statusCode, message }`
 * bodies carry nothing beyond their message.
 */
function dataOf(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || 'message' in body) return {};
  return Object.fromEntries(Object.entries(body).filter(([k]) => !RESERVED.has(k)));
}

/** Express's body parser raises plain errors with a status and a type. */
function asBodyParserError(e: unknown): Problem | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const { status, type } = e as { status?: unknown; type?: unknown };
  if (typeof status !== 'number' || typeof type !== 'string') return undefined;
  if (type === 'entity.too.large') {
    return {
      type: problemType(ErrorCode.PayloadTooLarge),
      title: PROBLEM_TITLES[413],
      status: 413,
      detail: 'the request body is larger than this gateway accepts',
      code: ErrorCode.PayloadTooLarge,
    };
  }
  if (type === 'entity.parse.failed') {
    return {
      type: problemType(ErrorCode.InvalidRequest),
      title: PROBLEM_TITLES[400],
      status: 400,
      detail: 'the request body is not valid JSON',
      code: ErrorCode.InvalidRequest,
    };
  }
  return undefined;
}
