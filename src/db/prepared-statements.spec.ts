import { describe, expect, it } from 'vitest';
import { PreparedStatements } from './prepared-statements';

describe('PreparedStatements', () => {
  it('names a statement with parameters once it has been seen often enough', () => {
    const p = new PreparedStatements();
    const sql = 'UPDATE executions SET state = $2 WHERE id = $1';
    for (let i = 1; i < PreparedStatements.HOT_AFTER; i++)
      expect(p.statement(sql, [1, 'x'])).toBe(sql);
    const named = p.statement(sql, [1, 'x']);
    expect(named).toMatchObject({ text: sql, values: [1, 'x'] });
    const name = (named as { name: string }).name;
    expect(name).toMatch(/^rg_[0-9a-f]{24}$/);
    // The same name every time, with this call's values.
    expect(p.statement(sql, [2, 'y'])).toEqual({ name, text: sql, values: [2, 'y'] });
    // Another process (or another Database) derives the same name from the same text.
    const q = new PreparedStatements();
    for (let i = 1; i < PreparedStatements.HOT_AFTER; i++) q.statement(sql, [1]);
    expect((q.statement(sql, [1]) as { name: string }).name).toBe(name);
  });

  it('names nothing when disabled (the embedded database)', () => {
    const p = new PreparedStatements(false);
    for (let i = 0; i < 10; i++) expect(p.statement('SELECT $1::int', [i])).toBe('SELECT $1::int');
  });

  it('never names a statement without parameters', () => {
    const p = new PreparedStatements();
    for (let i = 0; i < 10; i++) expect(p.statement('SELECT 1', undefined)).toBe('SELECT 1');
    for (let i = 0; i < 10; i++) expect(p.statement('SELECT 2', [])).toBe('SELECT 2');
  });

  it('names at most MAX_NAMED texts', () => {
    const p = new PreparedStatements();
    let named = 0;
    for (let t = 0; t < PreparedStatements.MAX_NAMED + 10; t++) {
      const sql = `SELECT $1::int + ${t}`;
      let last: unknown;
      for (let i = 0; i < PreparedStatements.HOT_AFTER; i++) last = p.statement(sql, [t]);
      if (typeof last !== 'string') named++;
    }
    expect(named).toBe(PreparedStatements.MAX_NAMED);
  });
});
