/**
 * Every action the policy decides on. Policy lines naming anything else are refused
 * at load time, so a typo cannot silently grant or deny nothing.
 */
export const Actions = [
  /** See a runbook in the catalog, with its cells and parameters. */
  'runbook:read',
  /** Start a session of a runbook in an environment. */
  'session:start',
  /** Read a session: state, cells, outputs, stream. */
  'session:read',
  /** Additionally needed to read or act on a session somebody else owns. */
  'session:read-any',
  /**
   * Read somebody else's session (`session:read` only) while it holds an approval
   * request the caller may review (`approval:approve`, not their own request), from
   * the request's creation until its review window closes; see `ReviewFact`.
   */
  'session:read-as-reviewer',
  /**
   * Take a session's run record away (executed notebook, HTML report). Owner-scoped:
   * somebody else's session also needs `session:read-any`, never the reviewer grant.
   */
  'session:export',
  /** Run a read-only cell. */
  'cell:execute',
  /** Request approval for (and then run, once approved) a mutating cell. */
  'cell:execute-mutating',
  /** Grant or deny an approval request. */
  'approval:approve',
  /** Run a mutating cell without approvers, with a mandatory reason. */
  'breakglass',
  /** Search and verify the audit trail. */
  'audit:read',
  /** Read the policy in force and its health. */
  'policy:read',
  /**
   * Make the catalog fetch its Git ref now (`POST /v1/catalog/refresh`, a push
   * webhook): it loads only what the configured ref holds, never a caller's content.
   */
  'catalog:refresh',
] as const;

/** One of {@link Actions}. */
export type Action = (typeof Actions)[number];

export function isAction(value: string): value is Action {
  return (Actions as readonly string[]).includes(value);
}

/**
 * Actions on a session that, when the session belongs to someone else, also need
 * `session:read-any` (or, for `session:read` alone, `session:read-as-reviewer` while
 * the caller is a reviewer of one of its requests). The others are not about a session (`runbook:read`,
 * `session:start`, `audit:read`, `policy:read`), or are by nature done on somebody
 * else's session (`approval:approve`: the requester never approves their own), so
 * the owner plays no part in them.
 */
export const OwnerScopedActions: readonly Action[] = [
  'session:read',
  'session:export',
  'cell:execute',
  'cell:execute-mutating',
  'breakglass',
];

export function isOwnerScoped(action: Action): boolean {
  return OwnerScopedActions.includes(action);
}
