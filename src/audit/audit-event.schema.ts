import { AUDIT_EVENT_TYPES, AUDIT_SCHEMA, type AuditEventType } from './audit.types';

/*
 * The JSON Schema (draft 2020-12) of `rungate.audit/v1`, built from one table per
 * event type. scripts/audit-schema.ts writes it to docs/audit-event.schema.json, and audit-event.schema.spec.ts fails when that file
 * differs or when a typed sample of any catalogue type does not validate, so the
 * schema, the file and the TypeScript catalogue cannot drift apart.
 */

type Schema = Readonly<Record<string, unknown>>;

const ref = (name: string): Schema => ({ $ref: `#/$defs/${name}` });
const str: Schema = { type: 'string' };
const nonEmpty: Schema = { type: 'string', minLength: 1 };
const strings: Schema = { type: 'array', items: str };
const sha256: Schema = ref('sha256');
const timestamp: Schema = { type: 'string', format: 'date-time' };
const webSessionId: Schema = { type: 'string', pattern: '^[0-9a-f]{16}$' };
const nullableRule: Schema = { oneOf: [strings, { type: 'null' }] };

function object(required: readonly string[], properties: Record<string, Schema>): Schema {
  return { type: 'object', additionalProperties: false, required, properties };
}

const defs: Record<string, Schema> = {
  sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
  uuid: { type: 'string', format: 'uuid' },
  actor: object(['type'], {
    type: { enum: ['user', 'system', 'anonymous'] },
    sub: nonEmpty,
    name: str,
    groups: strings,
    ip: str,
    user_agent: str,
  }),
  runbook: object(['id', 'version'], { id: nonEmpty, version: nonEmpty, commit: ref('commit') }),
  commit: { type: 'string', pattern: '^[0-9a-f]{40}([0-9a-f]{24})?$' },
  catalogEntry: object(['id', 'version'], {
    id: nonEmpty,
    version: nonEmpty,
    commit: ref('commit'),
  }),
  cell: object(['id', 'sha256', 'class'], {
    id: nonEmpty,
    index: { type: 'integer', minimum: 0 },
    sha256,
    class: { enum: ['read-only', 'mutating', 'parameters'] },
    execution_id: ref('uuid'),
  }),
  cellWithCode: object(['id', 'sha256', 'class', 'execution_id', 'code'], {
    id: nonEmpty,
    index: { type: 'integer', minimum: 0 },
    sha256,
    class: { enum: ['read-only', 'mutating', 'parameters'] },
    execution_id: ref('uuid'),
    code: str,
  }),
  cellWithExecution: object(['id', 'sha256', 'class', 'execution_id'], {
    id: nonEmpty,
    index: { type: 'integer', minimum: 0 },
    sha256,
    class: { enum: ['read-only', 'mutating', 'parameters'] },
    execution_id: ref('uuid'),
  }),
  decision: object(
    [
      'action',
      'effect',
      'resource',
      'environment',
      'subjects',
      'rule',
      'reason',
      'policy_loaded_at',
      'kind',
    ],
    {
      action: nonEmpty,
      effect: { enum: ['allow', 'deny'] },
      resource: nonEmpty,
      environment: nonEmpty,
      owner: str,
      subjects: strings,
      rule: nullableRule,
      owner_rule: nullableRule,
      reason: str,
      policy_loaded_at: { oneOf: [timestamp, { type: 'null' }] },
      kind: { enum: ['authorize', 'authorize-any', 'filter'] },
    },
  ),
  person: object(['sub', 'name'], { sub: nonEmpty, name: str }),
  approval: object(['id', 'state'], {
    id: nonEmpty,
    state: {
      enum: [
        'pending',
        'approved',
        'denied',
        'expired',
        'cancelled',
        'consumed',
        'needs_review',
        'reviewed',
      ],
    },
    reason: str,
    comment: str,
    requester: ref('person'),
    reviewer: ref('person'),
    approvals: { type: 'integer', minimum: 0 },
    quorum: { type: 'integer', minimum: 1 },
    breakglass: { type: 'boolean' },
    target: str,
    parameters_sha256: sha256,
    expires_at: timestamp,
  }),
  outcome: object(['result'], {
    result: { enum: ['success', 'failure', 'unknown'] },
    reason: str,
  }),
  executionOutcome: object(
    ['result', 'status', 'duration_ms', 'output_bytes', 'output_sha256', 'truncated'],
    {
      result: { enum: ['success', 'failure', 'unknown'] },
      reason: str,
      status: { enum: ['ok', 'error', 'interrupted', 'kernel_died', 'cancelled'] },
      duration_ms: { type: 'number', minimum: 0 },
      execution_count: { oneOf: [{ type: 'integer' }, { type: 'null' }] },
      output_bytes: { type: 'integer', minimum: 0 },
      output_sha256: sha256,
      truncated: { type: 'boolean' },
      error: object(['ename', 'evalue'], { ename: str, evalue: str }),
      outputs: { type: 'array' },
    },
  ),
  http: object(['method', 'path', 'status_code', 'duration_ms'], {
    method: nonEmpty,
    path: nonEmpty,
    route: str,
    status_code: { type: 'integer', minimum: 100, maximum: 599 },
    duration_ms: { type: 'number', minimum: 0 },
    request_id: str,
    forwarded_by: nonEmpty,
  }),
  kernel: object(['id', 'name'], {
    id: nonEmpty,
    name: nonEmpty,
    pid: { type: 'integer' },
    exit_code: { oneOf: [{ type: 'integer' }, { type: 'null' }] },
    signal: { oneOf: [str, { type: 'null' }] },
  }),
  credential: object(['target', 'kind', 'access'], {
    target: nonEmpty,
    kind: { enum: ['postgres', 'static'] },
    access: { enum: ['read', 'elevated'] },
    role: str,
    expires_at: timestamp,
  }),
};

/** The members of one type besides the envelope: which are required and their schemas. */
interface TypeSchema {
  readonly required: readonly string[];
  readonly properties: Readonly<Record<string, Schema>>;
}

const session = ref('uuid');

const approvalType: TypeSchema = {
  required: ['session', 'runbook', 'cell', 'approval'],
  properties: { session, runbook: ref('runbook'), cell: ref('cell'), approval: ref('approval') },
};

const credentialType: TypeSchema = {
  required: ['session', 'credential'],
  properties: {
    session,
    cell: ref('cell'),
    credential: ref('credential'),
    outcome: ref('outcome'),
  },
};

/** One entry per catalogue type; a missing type does not compile. */
const TYPES: { readonly [T in AuditEventType]: TypeSchema } = {
  'gateway.started': {
    required: ['details'],
    properties: {
      details: object(['instance', 'host', 'pid', 'version', 'database', 'sink', 'kernels'], {
        instance: nonEmpty,
        host: str,
        pid: { type: 'integer' },
        version: str,
        database: { enum: ['embedded', 'server'] },
        sink: { enum: ['kafka', 'file'] },
        kernels: object(['provisioner', 'network'], {
          provisioner: { enum: ['sandbox', 'process'] },
          network: { enum: ['private', 'host'] },
        }),
      }),
    },
  },
  'session.started': {
    required: ['session', 'runbook', 'details'],
    properties: {
      session,
      runbook: ref('runbook'),
      details: object(['reason', 'environment', 'targets', 'parameters'], {
        reason: str,
        incident: str,
        environment: nonEmpty,
        targets: strings,
        parameters: { type: 'object' },
      }),
    },
  },
  'session.ended': {
    required: ['session', 'runbook', 'outcome'],
    properties: { session, runbook: ref('runbook'), outcome: ref('outcome') },
  },
  'kernel.started': {
    required: ['session', 'kernel'],
    properties: { session, runbook: ref('runbook'), kernel: ref('kernel') },
  },
  'kernel.died': {
    required: ['session', 'kernel', 'outcome'],
    properties: {
      session,
      runbook: ref('runbook'),
      kernel: ref('kernel'),
      outcome: ref('outcome'),
    },
  },
  'policy.decision': {
    required: ['decision', 'outcome'],
    properties: {
      session,
      runbook: ref('runbook'),
      decision: ref('decision'),
      outcome: ref('outcome'),
    },
  },
  'cell.execution.requested': {
    required: ['session', 'runbook', 'cell'],
    properties: {
      session,
      runbook: ref('runbook'),
      cell: ref('cellWithCode'),
      approval: ref('approval'),
    },
  },
  'cell.execution.completed': {
    required: ['session', 'runbook', 'cell', 'outcome'],
    properties: {
      session,
      runbook: ref('runbook'),
      cell: ref('cellWithExecution'),
      outcome: ref('executionOutcome'),
    },
  },
  'approval.requested': approvalType,
  'approval.granted': approvalType,
  'approval.denied': approvalType,
  'approval.expired': approvalType,
  'approval.cancelled': approvalType,
  'approval.consumed': approvalType,
  'approval.breakglass': approvalType,
  'approval.acknowledged': approvalType,
  'credential.issued': credentialType,
  'credential.revoked': credentialType,
  'auth.failed': {
    required: ['outcome', 'details'],
    properties: {
      http: object(['method', 'path'], { method: nonEmpty, path: nonEmpty }),
      outcome: object(['result', 'reason'], { result: { const: 'failure' }, reason: str }),
      details: object(['kind'], { kind: nonEmpty }),
    },
  },
  'policy.reloaded': {
    required: ['outcome', 'details'],
    properties: {
      outcome: ref('outcome'),
      details: object(['files'], { files: strings, loaded_at: timestamp, error: str }),
    },
  },
  'http.request': {
    required: ['outcome', 'http'],
    properties: { session, http: ref('http'), outcome: ref('outcome') },
  },
  'auth.web_session.started': {
    required: ['outcome', 'details'],
    properties: {
      outcome: ref('outcome'),
      details: object(['web_session', 'client_id'], {
        web_session: webSessionId,
        client_id: nonEmpty,
        auth_time: timestamp,
        max_age: { type: 'integer', minimum: 0 },
      }),
    },
  },
  'auth.web_session.ended': {
    required: ['outcome', 'details'],
    properties: {
      outcome: ref('outcome'),
      details: object(['web_session'], {
        web_session: webSessionId,
        person: ref('person'),
      }),
    },
  },
  'cell.execution.abandoned': {
    required: ['session', 'runbook', 'cell', 'outcome', 'details'],
    properties: {
      session,
      runbook: ref('runbook'),
      cell: ref('cellWithExecution'),
      outcome: object(['result', 'reason'], { result: { const: 'unknown' }, reason: nonEmpty }),
      details: object([], { instance: nonEmpty, started_at: timestamp }),
    },
  },
  'session.exported': {
    required: ['session', 'runbook', 'details'],
    properties: {
      session,
      runbook: ref('runbook'),
      details: object(['format'], { format: { enum: ['ipynb', 'html'] } }),
    },
  },
  'catalog.updated': {
    required: ['outcome', 'details'],
    properties: {
      outcome: ref('outcome'),
      details: object(['source', 'instance', 'added', 'changed', 'removed', 'invalid'], {
        source: { enum: ['git', 'folder'] },
        commit: ref('commit'),
        previous_commit: ref('commit'),
        instance: nonEmpty,
        added: { type: 'array', items: ref('catalogEntry') },
        changed: {
          type: 'array',
          items: object(['id', 'version', 'previous_version'], {
            id: nonEmpty,
            version: nonEmpty,
            commit: ref('commit'),
            previous_version: nonEmpty,
          }),
        },
        removed: { type: 'array', items: ref('catalogEntry') },
        invalid: {
          type: 'array',
          items: object(['id', 'reason'], { id: nonEmpty, reason: str }),
        },
      }),
    },
  },
};

const ENVELOPE_REQUIRED = [
  'schema',
  'id',
  'type',
  'time',
  'severity',
  'actor',
  'trace_id',
  'span_id',
  'seq',
  'prev_hash',
  'hash',
] as const;

function envelope(type: AuditEventType): Record<string, Schema> {
  return {
    schema: { const: AUDIT_SCHEMA },
    id: ref('uuid'),
    type: { const: type },
    time: timestamp,
    severity: { enum: ['info', 'warning', 'critical'] },
    actor: ref('actor'),
    trace_id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
    span_id: { type: 'string', pattern: '^[0-9a-f]{16}$' },
    seq: { type: 'integer', minimum: 1 },
    prev_hash: sha256,
    hash: sha256,
  };
}

/** Builds the schema document (a fresh object each call). */
export function auditEventSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://rungate.dev/schemas/rungate.audit/v1.json',
    title: 'rungate audit event (rungate.audit/v1)',
    description:
      'One audit event of the rungate gateway, as published to Kafka and served by GET /v1/audit/events. ' +
      'Generated from src/audit/audit-event.schema.ts by scripts/audit-schema.ts; see docs/audit.md.',
    oneOf: AUDIT_EVENT_TYPES.map((type) => ({ $ref: `#/$defs/event.${type}` })),
    $defs: {
      ...defs,
      ...Object.fromEntries(
        AUDIT_EVENT_TYPES.map((type) => {
          const t = TYPES[type];
          return [
            `event.${type}`,
            object([...ENVELOPE_REQUIRED, ...t.required], { ...envelope(type), ...t.properties }),
          ];
        }),
      ),
    },
  };
}

/** The file as scripts/audit-schema.ts writes it. */
export function auditEventSchemaText(): string {
  return `${JSON.stringify(auditEventSchema(), null, 2)}\n`;
}
