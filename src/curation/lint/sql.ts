import { loadModule, parseSync } from 'libpg-query';
import { EFFECT_RANK, type Effect } from './lint.types';

/** What one SQL text does, by PostgreSQL's own parser. */
export type SqlClass =
  | { ok: true; effect: Effect; what: string }
  | { ok: false; error: string; position: number | null };

let loaded: Promise<void> | null = null;

/** Loads the parser (WebAssembly) once per process; every classify call needs it first. */
export function loadSqlParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/** Functions that act on the server itself, or change data, whatever statement calls them. */
const SERVER_FUNCTIONS = new Set([
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_promote',
  'pg_switch_wal',
  'pg_create_restore_point',
  'pg_start_backup',
  'pg_stop_backup',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_wal_replay_pause',
  'pg_wal_replay_resume',
  'pg_create_physical_replication_slot',
  'pg_create_logical_replication_slot',
  'pg_drop_replication_slot',
  'pg_copy_physical_replication_slot',
  'pg_copy_logical_replication_slot',
  'pg_replication_slot_advance',
  'pg_replication_origin_create',
  'pg_replication_origin_drop',
  'pg_stat_reset',
  'pg_stat_reset_shared',
  'pg_stat_reset_single_table_counters',
  'pg_stat_reset_single_function_counters',
  'pg_stat_reset_slru',
  'pg_stat_reset_replication_slot',
  'pg_stat_statements_reset',
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_log_backend_memory_contexts',
  'dblink_exec',
]);
const WRITE_FUNCTIONS = new Set([
  'nextval',
  'setval',
  'lo_unlink',
  'lo_import',
  'lo_create',
  'lo_put',
  'lo_from_bytea',
  'txid_current',
  'pg_current_xact_id',
  'pg_advisory_lock',
  'pg_advisory_xact_lock',
]);

const READ_STATEMENTS = new Set([
  'TransactionStmt',
  'VariableSetStmt',
  'VariableShowStmt',
  'DiscardStmt',
  'ListenStmt',
  'UnlistenStmt',
  'DeallocateStmt',
  'DeclareCursorStmt',
  'FetchStmt',
  'ClosePortalStmt',
  'ConstraintsSetStmt',
]);
const WRITE_STATEMENTS = new Set([
  'InsertStmt',
  'UpdateStmt',
  'DeleteStmt',
  'MergeStmt',
  'TruncateStmt',
  'LockStmt',
  'NotifyStmt',
  'CallStmt',
  'DoStmt',
  'ExecuteStmt',
]);
const PRIVILEGE_STATEMENTS = new Set([
  'GrantStmt',
  'GrantRoleStmt',
  'CreateRoleStmt',
  'AlterRoleStmt',
  'AlterRoleSetStmt',
  'DropRoleStmt',
  'AlterDefaultPrivilegesStmt',
  'ReassignOwnedStmt',
  'DropOwnedStmt',
  'AlterOwnerStmt',
  'CreatePolicyStmt',
  'AlterPolicyStmt',
  'SecLabelStmt',
  'CreateUserMappingStmt',
  'AlterUserMappingStmt',
  'DropUserMappingStmt',
]);
const SERVER_STATEMENTS = new Set(['AlterSystemStmt', 'CheckPointStmt', 'LoadStmt']);

/** Words for the statement kinds a reader knows. */
const WHAT: Record<string, string> = {
  SelectStmt: 'SELECT',
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  TruncateStmt: 'TRUNCATE',
  CopyStmt: 'COPY',
  GrantStmt: 'GRANT/REVOKE',
  GrantRoleStmt: 'GRANT/REVOKE role',
  AlterSystemStmt: 'ALTER SYSTEM',
  DoStmt: 'DO block',
  CallStmt: 'CALL',
  VariableSetStmt: 'SET',
  VariableShowStmt: 'SHOW',
  ExplainStmt: 'EXPLAIN',
};

function worse(a: Effect, b: Effect): Effect {
  return EFFECT_RANK[b] > EFFECT_RANK[a] ? b : a;
}

function statementEffect(type: string, node: Record<string, unknown>): Effect {
  if (type === 'SelectStmt') return node.intoClause ? 'ddl' : node.lockingClause ? 'write' : 'read';
  if (type === 'CopyStmt')
    return node.is_from ? 'write' : node.filename ? 'server-function' : 'read';
  if (type === 'ExplainStmt' || type === 'PrepareStmt') return 'read'; // the inner query is walked
  if (type === 'VariableSetStmt' && (node.name === 'role' || node.name === 'session_authorization'))
    return 'privilege';
  if (READ_STATEMENTS.has(type)) return 'read';
  if (WRITE_STATEMENTS.has(type)) return 'write';
  if (PRIVILEGE_STATEMENTS.has(type)) return 'privilege';
  if (SERVER_STATEMENTS.has(type)) return 'server-function';
  // CREATE / ALTER / DROP / COMMENT / RENAME / VACUUM / REINDEX / CLUSTER / REFRESH ...
  return 'ddl';
}

function describeStatement(type: string): string {
  return (
    WHAT[type] ??
    type
      .replace(/Stmt$/, '')
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .toUpperCase()
  );
}

/** Walks every node: nested statements (CTEs, EXPLAIN ANALYZE, PREPARE) and function calls. */
function walk(value: unknown, visit: (type: string, node: Record<string, unknown>) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, visit);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    if (/^[A-Z]/.test(key) && typeof child === 'object' && child !== null && !Array.isArray(child))
      visit(key, child as Record<string, unknown>);
    walk(child, visit);
  }
}

function funcName(node: Record<string, unknown>): string {
  const parts = (node.funcname as Array<{ String?: { sval?: string } }> | undefined) ?? [];
  return parts.map((p) => p.String?.sval ?? '').pop() ?? '';
}

/**
 * Turns driver placeholders into something PostgreSQL parses: psycopg's `%s` and
 * `%(name)s` become `$1`, `%%` a literal `%`; SQLAlchemy-style `:name` stays (a cast
 * `::` is left alone).
 */
export function normalizePlaceholders(sql: string): string {
  return sql
    .replace(/%\([A-Za-z_]\w*\)s|%s/g, '$1')
    .replace(/%%/g, '%')
    .replace(/(^|[^:\w]):([A-Za-z_]\w*)/g, '$1$$1');
}

/** The worst effect of a SQL text, or why PostgreSQL's parser refuses it. Call loadSqlParser() first. */
export function classifySql(sql: string): SqlClass {
  let tree: { stmts?: Array<{ stmt?: Record<string, unknown> }> };
  try {
    tree = parseSync(normalizePlaceholders(sql)) as typeof tree;
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    return { ok: false, error: e.message, position: e.sqlDetails?.cursorPosition ?? null };
  }
  let effect: Effect = 'read';
  const whats: string[] = [];
  for (const { stmt } of tree.stmts ?? []) {
    if (!stmt) continue;
    const [type, node] = Object.entries(stmt)[0] as [string, Record<string, unknown>];
    const own = statementEffect(type, node);
    effect = worse(effect, own);
    let what = describeStatement(type);
    walk(node, (t, n) => {
      if (t === 'FuncCall') {
        const name = funcName(n);
        if (SERVER_FUNCTIONS.has(name)) {
          effect = worse(effect, 'server-function');
          what += ` calling ${name}()`;
        } else if (WRITE_FUNCTIONS.has(name)) {
          effect = worse(effect, 'write');
          what += ` calling ${name}()`;
        }
      } else if (t.endsWith('Stmt') && t !== 'SelectStmt') {
        const inner = statementEffect(t, n);
        if (EFFECT_RANK[inner] > EFFECT_RANK['read']) what += ` with ${describeStatement(t)}`;
        effect = worse(effect, inner);
      } else if (t === 'SelectStmt' && (n.intoClause || n.lockingClause)) {
        effect = worse(effect, statementEffect(t, n));
      }
    });
    whats.push(what);
  }
  return { ok: true, effect, what: whats.join('; ') || 'empty statement' };
}
