import { beforeAll, describe, expect, it } from 'vitest';
import { classifySql, loadSqlParser, normalizePlaceholders } from './sql';

describe('classifySql', () => {
  beforeAll(() => loadSqlParser());

  it.each([
    ['SELECT id FROM jobs WHERE queue = %s', 'read'],
    ["SELECT count(*) FROM jobs WHERE note LIKE '%DELETE FROM%'", 'read'],
    ['SET statement_timeout = 5000', 'read'],
    ['DELETE FROM jobs WHERE id = %(id)s', 'write'],
    ['UPDATE jobs SET state = :state WHERE id = 1', 'write'],
    ['SELECT * FROM jobs FOR UPDATE', 'write'],
    ['WITH gone AS (DELETE FROM jobs RETURNING id) SELECT count(*) FROM gone', 'write'],
    ['EXPLAIN ANALYZE DELETE FROM jobs', 'write'],
    ["SELECT nextval('orders_id_seq')", 'write'],
    ['CREATE INDEX CONCURRENTLY i ON jobs (queue)', 'ddl'],
    ['DROP TABLE jobs', 'ddl'],
    ['SELECT * INTO backup FROM jobs', 'ddl'],
    ['GRANT SELECT ON orders TO analyst', 'privilege'],
    ['ALTER ROLE app PASSWORD NULL', 'privilege'],
    ['SET ROLE admin', 'privilege'],
    ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', 'server-function'],
    ["ALTER SYSTEM SET work_mem = '64MB'", 'server-function'],
    ['SELECT 1; DELETE FROM jobs; SELECT pg_reload_conf()', 'server-function'],
  ])('%s is %s', (sql, effect) => {
    expect(classifySql(sql)).toMatchObject({ ok: true, effect });
  });

  it('says why PostgreSQL refuses a statement', () => {
    expect(classifySql('SELEC 1')).toEqual({
      ok: false,
      error: 'syntax error at or near "SELEC"',
      position: 0,
    });
  });
});

describe('normalizePlaceholders', () => {
  it('turns driver placeholders into parameters and keeps casts', () => {
    expect(normalizePlaceholders("SELECT '%%' || %s, %(x)s, :name, a::int")).toBe(
      "SELECT '%' || $1, $1, $1, a::int",
    );
  });
});
