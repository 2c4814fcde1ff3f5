import { DatabaseError } from 'pg';
import { InfrastructureError } from '../common/errors';

/**
 * SQLSTATE codes callers commonly branch on.
 * See https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export const SqlState = {
  UniqueViolation: '23505',
  ForeignKeyViolation: '23503',
  CheckViolation: '23514',
  NotNullViolation: '23502',
  SerializationFailure: '40001',
  DeadlockDetected: '40P01',
} as const;
export type SqlState = (typeof SqlState)[keyof typeof SqlState];

/** An error reported by the PostgreSQL server for a statement (it carries a SQLSTATE). */
export function isSqlError(err: unknown, state?: SqlState): err is DatabaseError {
  return err instanceof DatabaseError && (state === undefined || err.code === state);
}

/**
 * Socket-level failures reported by Node while opening or using a connection:
 * the server is down, unreachable or went away.
 */
const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * Messages of errors node-postgres raises itself (no errno, no SQLSTATE) when a
 * connection could not be had or was lost. Matched by prefix: pg appends detail.
 */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error',
  'Client was closed and is not queryable',
  'Query read timeout',
];

/** Our pool was ended (shutdown in progress): trying again in this process is pointless. */
const POOL_ENDED_MESSAGES = ['Cannot use a pool after calling end on the pool'];

interface Classified {
  readonly message: string;
  readonly retriable: boolean;
}

/**
 * Decides whether an error means "the database is not available to us" and, if so,
 * whether trying again may help. `undefined` means "not an infrastructure problem":
 * a statement error such as a constraint violation or a syntax error, which the
 * caller must see unchanged.
 */
function classify(err: unknown): Classified | undefined {
  if (err instanceof DatabaseError) return classifySqlState(err.code);
  if (!(err instanceof Error)) return undefined;
  const errno = (err as NodeJS.ErrnoException).code;
  if (typeof errno === 'string' && NETWORK_ERRNOS.has(errno)) {
    return { message: `database unreachable (${errno})`, retriable: true };
  }
  if (POOL_ENDED_MESSAGES.some((m) => err.message.startsWith(m))) {
    return { message: 'database connection pool is closed', retriable: false };
  }
  if (PG_CONNECTION_MESSAGES.some((m) => err.message.startsWith(m))) {
    return { message: `database connection failed: ${err.message}`, retriable: true };
  }
  // An AggregateError from net.connect when every resolved address refused.
  if (err instanceof AggregateError && err.errors.some((e) => classify(e)?.retriable === true)) {
    return { message: 'database unreachable', retriable: true };
  }
  return undefined;
}

function classifySqlState(code: string | undefined): Classified | undefined {
  if (code === undefined) return undefined;
  // Class 08: connection exception.
  if (code.startsWith('08'))
    return { message: `database connection error (SQLSTATE ${code})`, retriable: true };
  switch (code) {
    case '57P01': // admin_shutdown
    case '57P02': // crash_shutdown
    case '57P03': // cannot_connect_now (starting up, recovering)
      return { message: `database is restarting (SQLSTATE ${code})`, retriable: true };
    case '57014': // query_canceled, e.g. statement_timeout under load
      return { message: 'database statement timed out', retriable: true };
    case '25006': // read_only_sql_transaction: we reached a standby, e.g. during a failover
      return {
        message: 'database is read-only (standby or failover in progress)',
        retriable: true,
      };
    case '53100': // disk_full: an operator must act first
      return { message: 'database disk is full', retriable: false };
    case '28000': // invalid_authorization_specification
    case '28P01': // invalid_password
      return { message: 'database refused our credentials', retriable: false };
    case '3D000': // invalid_catalog_name
      return { message: 'database does not exist', retriable: false };
    default:
      // Class 53: insufficient resources (too many connections, out of memory).
      if (code.startsWith('53')) {
        return { message: `database out of resources (SQLSTATE ${code})`, retriable: true };
      }
      return undefined;
  }
}

/**
 * Turns a failure to reach or keep the database into an {@link InfrastructureError}
 * (HTTP 503); returns any other error unchanged, so statement errors that come from
 * our own SQL keep their SQLSTATE and are never presented as retriable.
 */
export function toDatabaseError(err: unknown): unknown {
  if (err instanceof InfrastructureError) return err;
  const c = classify(err);
  return c === undefined ? err : new InfrastructureError(c.message, c.retriable, { cause: err });
}

/**
 * Whether the error means the database (or this connection to it) is unavailable,
 * looking through an InfrastructureError at its cause: one raised by other
 * infrastructure inside a transaction callback says nothing about our connection.
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof InfrastructureError) return isConnectionError(err.cause);
  return classify(err) !== undefined;
}

/**
 * Hides the password of a connection URL so it can be logged. Unparseable input is
 * not echoed at all: it may be a URL with an unescaped password.
 */
export function redactDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    for (const key of [...u.searchParams.keys()]) {
      if (/pass|secret|key/i.test(key)) u.searchParams.set(key, '***');
    }
    return u.toString();
  } catch {
    return '<unparseable DATABASE_URL>';
  }
}
