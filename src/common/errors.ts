/**
 * Domain errors carry a stable string code; the problem-details filter maps each
 * code to an HTTP status with an exhaustive switch, so adding a code without a
 * status is a compile error.
 */
export enum ErrorCode {
  InvalidRequest = 'invalid_request',
  NotFound = 'not_found',
  Conflict = 'conflict',
  Unauthenticated = 'unauthenticated',
  /** Authenticated, but too long ago for a decision (approve, deny, break glass). */
  StepUpRequired = 'step_up_required',
  Forbidden = 'forbidden',
  ApprovalRequired = 'approval_required',
  RunbookInvalid = 'runbook_invalid',
  SessionEnded = 'session_ended',
  Busy = 'busy',
  KernelUnavailable = 'kernel_unavailable',
  Unavailable = 'unavailable',
  PayloadTooLarge = 'payload_too_large',
  /** A mutating cell whose predecessors have not all run, in order, on the current kernel. */
  OutOfOrder = 'out_of_order',
  /** A cookie-authenticated request without the session's CSRF token, or from another origin. */
  CsrfFailed = 'csrf_failed',
  /** Too many refused authentications from one address: `Retry-After` says when to try again. */
  TooManyRequests = 'too_many_requests',
  /** A method no route serves at a path that exists: `Allow` lists those it does. */
  MethodNotAllowed = 'method_not_allowed',
}

export class RungateError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Extra members of the problem document (never secrets, never stack traces). */
    readonly extensions: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RungateError';
  }
}

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.InvalidRequest:
    case ErrorCode.RunbookInvalid:
      return 400;
    case ErrorCode.Unauthenticated:
    case ErrorCode.StepUpRequired:
      return 401;
    case ErrorCode.Forbidden:
    case ErrorCode.ApprovalRequired:
    case ErrorCode.CsrfFailed:
      return 403;
    case ErrorCode.NotFound:
      return 404;
    case ErrorCode.Conflict:
    case ErrorCode.SessionEnded:
    case ErrorCode.Busy:
    case ErrorCode.OutOfOrder:
      return 409;
    case ErrorCode.MethodNotAllowed:
      return 405;
    case ErrorCode.PayloadTooLarge:
      return 413;
    case ErrorCode.TooManyRequests:
      return 429;
    case ErrorCode.KernelUnavailable:
    case ErrorCode.Unavailable:
      return 503;
    default: {
      const never: never = code;
      throw new Error(`unmapped error code ${String(never)}`);
    }
  }
}

/** Infrastructure failures say whether trying again may help. */
export class InfrastructureError extends RungateError {
  constructor(
    message: string,
    readonly retriable: boolean,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.Unavailable, message, {}, options);
    this.name = 'InfrastructureError';
  }
}
