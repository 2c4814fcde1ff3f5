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
] as const;

/** One of {@link Actions}. */
export type Action = (typeof Actions)[number];

export function isAction(value: string): value is Action {
  return (Actions as readonly string[]).includes(value);
}

/**
 * Actions on a session that, when the session belongs to someone else, also need
 * `session:read-any`. The others are not about a session (`runbook:read`,
 * `session:start`, `audit:read`, `policy:read`), or are by nature done on somebody
 * else's session (`approval:approve`: the requester never approves their own), so
 * the owner plays no part in them.
 */
export const OwnerScopedActions: readonly Action[] = [
  'session:read',
  'cell:execute',
  'cell:execute-mutating',
  'breakglass',
];

export function isOwnerScoped(action: Action): boolean {
  return OwnerScopedActions.includes(action);
}
