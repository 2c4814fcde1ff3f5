/**
 * The audit event model, `rungate.audit/v1`: one JSON document per event, hash-chained
 * per session (or per gateway for events outside sessions). docs/audit.md describes
 * every type with an example and maps the fields onto ECS; docs/audit-event.schema.json
 * is generated from src/audit/audit-event.schema.ts and checked against these types by
 * audit-event.schema.spec.ts.
 */

/** Value of every event's `schema` member. A breaking change gets a new version. */
export const AUDIT_SCHEMA = 'rungate.audit/v1';

/** The chain (and Kafka key) of events that belong to no session. */
export const GATEWAY_CHAIN = 'gateway';

/** `prev_hash` of the first event of a chain: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

export type AuditSeverity = 'info' | 'warning' | 'critical';

/** ECS `event.outcome`. */
export type AuditResult = 'success' | 'failure' | 'unknown';

/**
 * Who did it, and from where. `type` tells a person or client (`user`) from the gateway
 * acting on its own (`system`: expiry, kernel death, start-up) and from a caller that
 * never proved an identity (`anonymous`: `auth.failed`).
 */
export interface AuditActor {
  readonly type: 'user' | 'system' | 'anonymous';
  /** Subject from the identity provider (for `system`: `rungate`). */
  readonly sub?: string;
  readonly name?: string;
  readonly groups?: readonly string[];
  /** Client address as the gateway saw it (after trusted proxies). */
  readonly ip?: string;
  readonly user_agent?: string;
}

/** The runbook version a session pinned. */
export interface AuditRunbook {
  /** Catalog id (path without extension), e.g. `db/replication-lag`. */
  readonly id: string;
  /** sha256 of the normalized notebook. */
  readonly version: string;
  /** With a Git catalog: the commit that last changed the runbook's file (`git log -1`). */
  readonly commit?: string;
}

/** A runbook version named in a catalog change. */
export interface AuditCatalogEntry {
  readonly id: string;
  readonly version: string;
  /** The commit it was read at (Git catalog). */
  readonly commit?: string;
}

export type AuditCellClass = 'read-only' | 'mutating' | 'parameters';

/** A cell of the session's runbook, and the execution of it the event is about. */
export interface AuditCell {
  readonly id: string;
  /** 0-based position in the notebook; absent for the generated parameters cell. */
  readonly index?: number;
  /** sha256 (hex) of the cell source as UTF-8. */
  readonly sha256: string;
  readonly class: AuditCellClass;
  /** The execution this event is about, when it is about one. */
  readonly execution_id?: string;
}

/** A cell with its full source: carried by `cell.execution.requested` only. */
export interface AuditCellWithCode extends AuditCell {
  readonly execution_id: string;
  readonly code: string;
}

/** A policy decision and the rule that made it (Casbin `enforceEx`). */
export interface AuditDecision {
  readonly action: string;
  readonly effect: 'allow' | 'deny';
  /** Runbook id, or `*` for "anywhere". */
  readonly resource: string;
  /** Environment, or `*` for "any". */
  readonly environment: string;
  /** `sub` of the session owner when the action is on somebody's session. */
  readonly owner?: string;
  /** Every subject the principal was evaluated as (`user:alice`, `group:oncall`, roles). */
  readonly subjects: readonly string[];
  /** The policy line that decided; null when none matched (default deny). */
  readonly rule: readonly string[] | null;
  /**
   * When the owner rule was checked: the `session:read-any` line, or the
   * `session:read-as-reviewer` line when the caller read as a reviewer.
   */
  readonly owner_rule?: readonly string[] | null;
  readonly reason: string;
  /** When the policy that decided was loaded. */
  readonly policy_loaded_at: string | null;
  /** How the decision was asked for. */
  readonly kind: 'authorize' | 'authorize-any' | 'filter';
}

/** A person named in an approval. */
export interface AuditPerson {
  readonly sub: string;
  readonly name: string;
}

export type AuditApprovalState =
  | 'pending'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'cancelled'
  | 'consumed'
  /** A break-glass run waiting for an approver to acknowledge it after the fact. */
  | 'needs_review'
  | 'reviewed';

/** An approval request: what it is bound to and where it stands. */
export interface AuditApproval {
  readonly id: string;
  readonly state: AuditApprovalState;
  /** Why the requester asked. */
  readonly reason?: string;
  /** The reviewer's comment (granted, denied), or why it was cancelled. */
  readonly comment?: string;
  readonly requester?: AuditPerson;
  /** Who made this transition (the approver or denier). */
  readonly reviewer?: AuditPerson;
  /** Distinct approvals so far and how many are needed. */
  readonly approvals?: number;
  readonly quorum?: number;
  /** Break-glass: run without approvers, reviewed after the fact. */
  readonly breakglass?: boolean;
  /** Target the elevated credentials are for. */
  readonly target?: string;
  /** sha256 of the canonical JSON of the parameter set it is bound to. */
  readonly parameters_sha256?: string;
  readonly expires_at?: string;
}

/** How something ended. `result` is ECS `event.outcome`. */
export interface AuditOutcome {
  readonly result: AuditResult;
  /** Why, in a few words (`idle timeout`, `token expired`, `policy denied`). */
  readonly reason?: string;
}

/** What became of a cell execution. */
export interface AuditExecutionOutcome extends AuditOutcome {
  readonly status: 'ok' | 'error' | 'interrupted' | 'kernel_died' | 'cancelled';
  readonly duration_ms: number;
  readonly execution_count?: number | null;
  /** Recorded output size (after the cap), in bytes. */
  readonly output_bytes: number;
  /** sha256 of the canonical JSON of the recorded (redacted) outputs. */
  readonly output_sha256: string;
  /** The output cap cut the recording short. */
  readonly truncated: boolean;
  readonly error?: { readonly ename: string; readonly evalue: string };
  /** The recorded outputs themselves, redacted; only with RUNGATE_AUDIT_RECORD_OUTPUTS. */
  readonly outputs?: readonly unknown[];
}

/** The HTTP command an `http.request` event records. */
export interface AuditHttp {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** The route template (`/v1/sessions/:id/cells/:cellId/execute`), when routing got that far. */
  readonly route?: string;
  readonly status_code: number;
  readonly duration_ms: number;
  /** The request id the gateway logged it under. */
  readonly request_id?: string;
  /**
   * The gateway instance that received the request and forwarded it to this one, which
   * holds the session it is for (replicas; see docs/scale.md).
   */
  readonly forwarded_by?: string;
}

/** A kernel process. */
export interface AuditKernel {
  readonly id: string;
  /** Kernelspec name. */
  readonly name: string;
  readonly pid?: number;
  readonly exit_code?: number | null;
  readonly signal?: string | null;
}

/** A credential handed to a kernel, described without its secret. */
export interface AuditCredential {
  readonly target: string;
  readonly kind: 'postgres' | 'static';
  /** `read` for a session, `elevated` for one approved cell. */
  readonly access: 'read' | 'elevated';
  /** The login role minted on a postgres target. */
  readonly role?: string;
  readonly expires_at?: string;
}

/**
 * The catalogue: each event type and the members it carries besides the envelope.
 * `AuditService.record(tx, type, payload)` is checked against it.
 */
export interface AuditEventCatalog {
  'gateway.started': {
    readonly details: {
      readonly instance: string;
      readonly host: string;
      readonly pid: number;
      readonly version: string;
      readonly database: 'embedded' | 'server';
      readonly sink: 'kafka' | 'file';
      /** How kernels are isolated: the provisioner and the network they get. */
      readonly kernels: {
        readonly provisioner: 'sandbox' | 'process';
        readonly network: 'private' | 'host';
      };
    };
  };
  'session.started': {
    readonly session: string;
    readonly runbook: AuditRunbook;
    readonly details: {
      readonly reason: string;
      readonly incident?: string;
      readonly environment: string;
      readonly targets: readonly string[];
      /** Validated parameter values (redacted). */
      readonly parameters: Readonly<Record<string, unknown>>;
    };
  };
  'session.ended': {
    readonly session: string;
    readonly runbook: AuditRunbook;
    readonly outcome: AuditOutcome;
  };
  'kernel.started': {
    readonly session: string;
    readonly runbook?: AuditRunbook;
    readonly kernel: AuditKernel;
  };
  'kernel.died': {
    readonly session: string;
    readonly runbook?: AuditRunbook;
    readonly kernel: AuditKernel;
    readonly outcome: AuditOutcome;
  };
  'policy.decision': {
    readonly session?: string;
    readonly runbook?: AuditRunbook;
    readonly decision: AuditDecision;
    readonly outcome: AuditOutcome;
  };
  'cell.execution.requested': {
    readonly session: string;
    readonly runbook: AuditRunbook;
    readonly cell: AuditCellWithCode;
    /** The approval it runs under (mutating cells). */
    readonly approval?: AuditApproval;
  };
  'cell.execution.completed': {
    readonly session: string;
    readonly runbook: AuditRunbook;
    readonly cell: AuditCell & { readonly execution_id: string };
    readonly outcome: AuditExecutionOutcome;
  };
  /**
   * An execution that had reached its kernel when the gateway holding that kernel went
   * away (a crash): recorded by the next process, for executions that have no
   * `cell.execution.completed`. Whether the code ran to its end is unknown.
   */
  'cell.execution.abandoned': {
    readonly session: string;
    readonly runbook: AuditRunbook;
    readonly cell: AuditCell & { readonly execution_id: string };
    readonly outcome: AuditOutcome & { readonly result: 'unknown'; readonly reason: string };
    readonly details: {
      /** The gateway instance that held the kernel, when known. */
      readonly instance?: string;
      /** When the execution started on its kernel, if its `running` mark was written. */
      readonly started_at?: string;
    };
  };
  /**
   * The catalog this gateway serves changed (a new commit of the followed Git ref, or
   * files changed in the folder): which runbooks became runnable, changed version or
   * stopped being runnable. Recorded on the gateway chain by the system actor.
   */
  'catalog.updated': {
    readonly outcome: AuditOutcome;
    readonly details: {
      /** `git` (RUNGATE_RUNBOOKS_GIT_URL) or `folder` (RUNGATE_RUNBOOKS_DIR). */
      readonly source: 'git' | 'folder';
      /** The commit now served (Git), and the one served before. */
      readonly commit?: string;
      readonly previous_commit?: string;
      /** The gateway instance whose catalog changed (each replica reads the source itself). */
      readonly instance: string;
      readonly added: readonly AuditCatalogEntry[];
      readonly changed: ReadonlyArray<AuditCatalogEntry & { readonly previous_version: string }>;
      readonly removed: readonly AuditCatalogEntry[];
      /** Runbooks listed but invalid after the change, with the reason (not runnable). */
      readonly invalid: ReadonlyArray<{ readonly id: string; readonly reason: string }>;
    };
  };
  /** Somebody took a session's run record away (GET /v1/sessions/{id}/notebook or /report). */
  'session.exported': {
    readonly session: string;
    readonly runbook: AuditRunbook;
    readonly details: {
      /** `ipynb` (the executed notebook) or `html` (the report). */
      readonly format: 'ipynb' | 'html';
    };
  };
  'approval.requested': ApprovalPayload;
  'approval.granted': ApprovalPayload;
  'approval.denied': ApprovalPayload;
  'approval.expired': ApprovalPayload;
  'approval.cancelled': ApprovalPayload;
  'approval.consumed': ApprovalPayload;
  /** A mutating cell run without approvers by a person with `breakglass`. */
  'approval.breakglass': ApprovalPayload;
  /** An approver reviewed a break-glass run after the fact. */
  'approval.acknowledged': ApprovalPayload;
  'credential.issued': CredentialPayload;
  'credential.revoked': CredentialPayload;
  'auth.failed': {
    readonly http?: Pick<AuditHttp, 'method' | 'path'>;
    readonly outcome: AuditOutcome & { readonly result: 'failure'; readonly reason: string };
    readonly details: {
      /** What was wrong: `missing_token`, `invalid_token`, `expired`, `issuer_unreachable`… */
      readonly kind: string;
    };
  };
  'policy.reloaded': {
    readonly outcome: AuditOutcome;
    readonly details: {
      readonly files: readonly string[];
      /** When the policy now in force was loaded. */
      readonly loaded_at?: string;
      /** Why the reload failed (the last good policy stays in force). */
      readonly error?: string;
    };
  };
  'http.request': {
    readonly session?: string;
    readonly http: AuditHttp;
    readonly outcome: AuditOutcome;
  };
  /** A person signed in to the web app: the gateway now holds their tokens (see docs/web.md). */
  'auth.web_session.started': {
    readonly outcome: AuditOutcome;
    readonly details: WebSessionDetails & {
      /** OIDC client the sign-in used. */
      readonly client_id: string;
      /** When the person last authenticated at the issuer (ID token `auth_time`). */
      readonly auth_time?: string;
      /** The sign-in asked the issuer for a fresh authentication (`max_age`, step-up). */
      readonly max_age?: number;
    };
  };
  /** A web session ended: signed out, expired, or its tokens were refused on refresh. */
  'auth.web_session.ended': {
    readonly outcome: AuditOutcome;
    readonly details: WebSessionDetails & {
      /** Whose session it was, when not the actor's (the gateway, or another sign-in, ended it). */
      readonly person?: AuditPerson;
    };
  };
}

/** What names a web session in audit events: never the cookie, a digest of its digest. */
interface WebSessionDetails {
  /** The first 16 hex digits of sha256 of the row key: ties a start to its end. */
  readonly web_session: string;
}

interface ApprovalPayload {
  readonly session: string;
  readonly runbook: AuditRunbook;
  readonly cell: AuditCell;
  readonly approval: AuditApproval;
}

interface CredentialPayload {
  readonly session: string;
  /** For elevated credentials: the approved cell they are for. */
  readonly cell?: AuditCell;
  readonly credential: AuditCredential;
  readonly outcome?: AuditOutcome;
}

export type AuditEventType = keyof AuditEventCatalog;

/** Every catalogue type, in documentation order. */
export const AUDIT_EVENT_TYPES = [
  'gateway.started',
  'session.started',
  'session.ended',
  'kernel.started',
  'kernel.died',
  'policy.decision',
  'cell.execution.requested',
  'cell.execution.completed',
  'approval.requested',
  'approval.granted',
  'approval.denied',
  'approval.expired',
  'approval.cancelled',
  'approval.consumed',
  'approval.breakglass',
  'approval.acknowledged',
  'credential.issued',
  'credential.revoked',
  'auth.failed',
  'policy.reloaded',
  'http.request',
  'auth.web_session.started',
  'auth.web_session.ended',
  // Last, so the documented examples of the types above keep their ids.
  'cell.execution.abandoned',
  'session.exported',
  'catalog.updated',
] as const satisfies readonly AuditEventType[];

// Fails to compile when a catalogue type is missing from the list above.
type MissingFromList = Exclude<AuditEventType, (typeof AUDIT_EVENT_TYPES)[number]>;
const listIsComplete: MissingFromList extends never ? true : MissingFromList = true;
void listIsComplete;

/** What a caller hands to `record`: the type's members, and optionally who and how severe. */
export type AuditPayload<T extends AuditEventType> = AuditEventCatalog[T] & {
  /** Default: the actor of the current request context (see audit-context.ts), else the gateway. */
  readonly actor?: AuditActor;
  /** Default: per type (see DEFAULT_SEVERITY). */
  readonly severity?: AuditSeverity;
};

/** Members every event has. */
export interface AuditEnvelope<T extends AuditEventType = AuditEventType> {
  readonly schema: typeof AUDIT_SCHEMA;
  /** UUIDv7: unique, and sortable by creation time. Consumers dedupe by it. */
  readonly id: string;
  readonly type: T;
  /** RFC 3339 UTC with milliseconds. */
  readonly time: string;
  readonly severity: AuditSeverity;
  readonly actor: AuditActor;
  /** W3C trace id (32 hex) of the command that caused the event. */
  readonly trace_id: string;
  /** W3C span id (16 hex). */
  readonly span_id: string;
  /** Position in its chain, from 1. */
  readonly seq: number;
  /** `hash` of the previous event of the chain (GENESIS_HASH for the first). */
  readonly prev_hash: string;
  /** sha256 hex of prev_hash followed by the canonical JSON of the event without `hash`. */
  readonly hash: string;
}

/** A complete event of type `T` as stored, published and served. */
export type AuditEvent<T extends AuditEventType = AuditEventType> = T extends AuditEventType
  ? AuditEnvelope<T> & AuditEventCatalog[T]
  : never;

/** Severity when the caller gives none. */
export const DEFAULT_SEVERITY: { readonly [T in AuditEventType]: AuditSeverity } = {
  'gateway.started': 'info',
  'session.started': 'info',
  'session.ended': 'info',
  'kernel.started': 'info',
  'kernel.died': 'warning',
  'policy.decision': 'info',
  'cell.execution.requested': 'info',
  'cell.execution.completed': 'info',
  'approval.requested': 'info',
  'approval.granted': 'info',
  'approval.denied': 'warning',
  'approval.expired': 'info',
  'approval.cancelled': 'info',
  'approval.consumed': 'info',
  'approval.breakglass': 'critical',
  'approval.acknowledged': 'warning',
  'credential.issued': 'info',
  'credential.revoked': 'info',
  'auth.failed': 'warning',
  'policy.reloaded': 'info',
  'http.request': 'info',
  'auth.web_session.started': 'info',
  'auth.web_session.ended': 'info',
  'cell.execution.abandoned': 'warning',
  'session.exported': 'info',
  'catalog.updated': 'info',
};

/** The gateway acting on its own. */
export const SYSTEM_ACTOR: AuditActor = { type: 'system', sub: 'rungate', name: 'rungate' };
