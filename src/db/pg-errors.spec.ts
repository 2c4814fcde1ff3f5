import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { InfrastructureError } from '../common/errors';
import {
  SqlState,
  isConnectionError,
  isSqlError,
  redactDatabaseUrl,
  toDatabaseError,
} from './pg-errors';

function sqlError(code: string): DatabaseError {
  const err = new DatabaseError(`error ${code}`, 0, 'error');
  err.code = code;
  return err;
}

function errnoError(code: string): Error {
  return Object.assign(new Error(`connect ${code} 127.0.0.1:5432`), { code });
}

describe('toDatabaseError', () => {
  it('wraps a refused connection as a retriable InfrastructureError keeping the cause', () => {
    const cause = errnoError('ECONNREFUSED');
    const err = toDatabaseError(cause);
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as InfrastructureError).retriable).toBe(true);
    expect((err as InfrastructureError).cause).toBe(cause);
  });

  it('wraps connection losses reported by pg itself', () => {
    for (const message of [
      'Connection terminated unexpectedly',
      'timeout exceeded when trying to connect',
    ]) {
      const err = toDatabaseError(new Error(message));
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as InfrastructureError).retriable).toBe(true);
    }
  });

  it('marks server shutdowns and failovers retriable', () => {
    for (const code of ['57P01', '57P03', '08006', '25006', '53300']) {
      expect((toDatabaseError(sqlError(code)) as InfrastructureError).retriable).toBe(true);
    }
  });

  it('marks credential and missing-database problems as not retriable', () => {
    for (const code of ['28P01', '3D000', '53100']) {
      const err = toDatabaseError(sqlError(code));
      expect(err).toBeInstanceOf(InfrastructureError);
      expect((err as InfrastructureError).retriable).toBe(false);
    }
  });

  it('returns statement errors unchanged', () => {
    for (const code of ['23505', '42P01', '42601', '22P02']) {
      const original = sqlError(code);
      expect(toDatabaseError(original)).toBe(original);
    }
    const bug = new TypeError('x is undefined');
    expect(toDatabaseError(bug)).toBe(bug);
  });

  it('returns an InfrastructureError unchanged', () => {
    const err = new InfrastructureError('kernel host gone', false);
    expect(toDatabaseError(err)).toBe(err);
  });
});

describe('isConnectionError', () => {
  it('looks through an InfrastructureError at its cause', () => {
    expect(
      isConnectionError(new InfrastructureError('db', true, { cause: errnoError('ECONNRESET') })),
    ).toBe(true);
    expect(isConnectionError(new InfrastructureError('kernel host gone', true))).toBe(false);
  });
});

describe('isSqlError', () => {
  it('matches a server error by SQLSTATE', () => {
    expect(isSqlError(sqlError('23505'), SqlState.UniqueViolation)).toBe(true);
    expect(isSqlError(sqlError('23503'), SqlState.UniqueViolation)).toBe(false);
    expect(isSqlError(new Error('23505'))).toBe(false);
  });
});

describe('redactDatabaseUrl', () => {
  it('hides the password and keeps user, host and database', () => {
    const out = redactDatabaseUrl(
      'postgresql://rungate:s3cr%40t@db.internal:5432/rungate?sslmode=require',
    );
    expect(out).toBe('postgresql://rungate:***@db.internal:5432/rungate?sslmode=require');
  });

  it('hides password-like query parameters', () => {
    expect(redactDatabaseUrl('postgresql://db/x?password=hunter2')).not.toContain('hunter2');
  });

  it('does not echo an unparseable URL', () => {
    expect(redactDatabaseUrl('postgresql://u:pa ss@')).toBe('<unparseable DATABASE_URL>');
  });
});
