import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';

/**
 * Which statements go to the server as named (prepared) statements.
 *
 * A named statement is parsed and planned once per connection, then only bound and
 * executed; the statements on a cell's path are long CTEs (the execution row, its
 * audit event and the chain head in one), whose parse and plan the server otherwise
 * repeats for every cell. A statement is named once the same text with parameters has
 * been seen {@link HOT_AFTER} times, so one-off and generated texts stay unnamed, and
 * at most {@link MAX_NAMED} texts are ever named, so the statements each connection
 * keeps prepared on the server stay bounded.
 */
export class PreparedStatements {
  static readonly HOT_AFTER = 3;
  static readonly MAX_NAMED = 256;
  /** Texts seen but not (yet) named, with their count; bounded like the named ones. */
  private static readonly MAX_COUNTED = 2048;

  private readonly seen = new Map<string, number>();
  private readonly named = new Map<string, string>();

  /**
   * @param enabled false for the embedded database: pglite-socket serves every
   *   connection from PGlite's one backend, so a statement one connection prepared
   *   already exists for the next (`42P05`), and a reconnect cannot start afresh.
   */
  constructor(private readonly enabled = true) {}

  /** What to hand to `pg`: the text as it is, or a named statement. */
  statement(sql: string, params: unknown[] | undefined): string | QueryConfig {
    if (!this.enabled || params === undefined || params.length === 0) return sql;
    const name = this.named.get(sql) ?? this.count(sql);
    return name === undefined ? sql : { name, text: sql, values: params };
  }

  private count(sql: string): string | undefined {
    const n = (this.seen.get(sql) ?? 0) + 1;
    if (n < PreparedStatements.HOT_AFTER || this.named.size >= PreparedStatements.MAX_NAMED) {
      if (this.seen.has(sql) || this.seen.size < PreparedStatements.MAX_COUNTED) {
        this.seen.set(sql, n);
      }
      return undefined;
    }
    this.seen.delete(sql);
    // Derived from the text: the same name always means the same statement, on every
    // connection and after a reconnect.
    const name = `rg_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    this.named.set(sql, name);
    return name;
  }
}
