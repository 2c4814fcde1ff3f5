import type { AuditActor, AuditEventType, AuditPayload } from './audit.types';

/*
 * One realistic payload per catalogue type, typed against the catalogue: a type
 * without a sample, or a sample that does not fit its type, does not compile. The
 * schema test turns each into a full event and validates it; scripts/audit-schema.ts
 * prints them as the examples in docs/audit.md.
 */

const SESSION = '0190f3c2-7a1e-7c3b-9d2a-4b5c6d7e8f90';
const EXECUTION = '0190f3c2-8b2f-7d4c-8e3b-5c6d7e8f9012';
const RUNBOOK = {
  id: 'db/replication-lag',
  version: 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00',
};
const CELL_SHA = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const ALICE: AuditActor = {
  type: 'user',
  sub: 'alice',
  name: 'Alice Oncall',
  groups: ['oncall'],
  ip: '10.1.2.3',
  user_agent: 'curl/8.5.0',
};
const BOB = { sub: 'bob', name: 'Bob Approver' };
const APPROVAL = {
  id: '0190f3c3-0000-7000-8000-000000000001',
  reason: 'replica stuck, need to restart the WAL receiver',
  requester: { sub: 'alice', name: 'Alice Oncall' },
  quorum: 1,
  target: 'orders-db',
  parameters_sha256: 'a'.repeat(64),
  expires_at: '2025-07-01T10:30:00.000Z',
};
const MUTATING_CELL = {
  id: 'restart-receiver',
  index: 7,
  sha256: CELL_SHA,
  class: 'mutating',
} as const;

/** Sample payloads, one per type. */
export const AUDIT_SAMPLES: { readonly [T in AuditEventType]: AuditPayload<T> } = {
  'gateway.started': {
    details: {
      instance: '0190f3c1-0000-7000-8000-00000000abcd',
      host: 'rungate-7c9f',
      pid: 4242,
      version: '0.1.0',
      database: 'server',
      sink: 'kafka',
      kernels: { provisioner: 'sandbox', network: 'private' },
    },
  },
  'session.started': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    details: {
      reason: 'replication lag alert',
      incident: 'INC-1234',
      environment: 'prod',
      targets: ['orders-db'],
      parameters: { max_lag_seconds: 30 },
    },
  },
  'session.ended': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    outcome: { result: 'success', reason: 'ended by its owner' },
  },
  'kernel.started': {
    session: SESSION,
    runbook: RUNBOOK,
    kernel: { id: 'k-3f2a', name: 'python3', pid: 31337 },
  },
  'kernel.died': {
    session: SESSION,
    runbook: RUNBOOK,
    kernel: { id: 'k-3f2a', name: 'python3', pid: 31337, exit_code: null, signal: 'SIGKILL' },
    outcome: { result: 'failure', reason: 'heartbeat lost' },
  },
  'policy.decision': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    decision: {
      action: 'cell:execute',
      effect: 'allow',
      resource: 'db/replication-lag',
      environment: 'prod',
      owner: 'alice',
      subjects: ['user:alice', 'group:oncall'],
      rule: ['group:oncall', 'prod', 'db/*', 'cell:execute', 'allow'],
      reason: 'allowed by group:oncall, prod, db/*, cell:execute',
      policy_loaded_at: '2025-07-01T08:00:00.000Z',
      kind: 'authorize',
    },
    outcome: { result: 'success' },
  },
  'cell.execution.requested': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    cell: {
      ...MUTATING_CELL,
      execution_id: EXECUTION,
      code: "restart_wal_receiver('orders-db-replica-2')",
    },
    approval: { ...APPROVAL, state: 'approved', approvals: 1 },
  },
  'cell.execution.completed': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    cell: { ...MUTATING_CELL, execution_id: EXECUTION },
    outcome: {
      result: 'failure',
      status: 'error',
      duration_ms: 1532,
      execution_count: 8,
      output_bytes: 412,
      output_sha256: 'b'.repeat(64),
      truncated: false,
      error: { ename: 'TimeoutError', evalue: 'replica did not answer' },
    },
  },
  'approval.requested': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    cell: MUTATING_CELL,
    approval: { ...APPROVAL, state: 'pending', approvals: 0 },
  },
  'approval.granted': {
    actor: { type: 'user', ...BOB, groups: ['dba'] },
    session: SESSION,
    runbook: RUNBOOK,
    cell: MUTATING_CELL,
    approval: { ...APPROVAL, state: 'approved', reviewer: BOB, comment: 'go ahead', approvals: 1 },
  },
  'approval.denied': {
    actor: { type: 'user', ...BOB, groups: ['dba'] },
    session: SESSION,
    runbook: RUNBOOK,
    cell: MUTATING_CELL,
    approval: {
      ...APPROVAL,
      state: 'denied',
      reviewer: BOB,
      comment: 'failover instead',
      approvals: 0,
    },
  },
  'approval.expired': {
    session: SESSION,
    runbook: RUNBOOK,
    cell: MUTATING_CELL,
    approval: { ...APPROVAL, state: 'expired', approvals: 0 },
  },
  'approval.cancelled': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    cell: MUTATING_CELL,
    approval: { ...APPROVAL, state: 'cancelled', comment: 'session ended', approvals: 0 },
  },
  'approval.consumed': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    cell: { ...MUTATING_CELL, execution_id: EXECUTION },
    approval: { ...APPROVAL, state: 'consumed', approvals: 1 },
  },
  'approval.breakglass': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    cell: { ...MUTATING_CELL, execution_id: EXECUTION },
    approval: {
      ...APPROVAL,
      state: 'needs_review',
      reason: 'payments down, approvers unreachable (INC-4711)',
      breakglass: true,
      approvals: 0,
    },
  },
  'approval.acknowledged': {
    actor: { type: 'user', ...BOB, groups: ['approvers'] },
    session: SESSION,
    runbook: RUNBOOK,
    cell: MUTATING_CELL,
    approval: {
      ...APPROVAL,
      state: 'reviewed',
      breakglass: true,
      reviewer: BOB,
      comment: 'checked the write; fine',
    },
  },
  'credential.issued': {
    session: SESSION,
    cell: { ...MUTATING_CELL, execution_id: EXECUTION },
    credential: {
      target: 'orders-db',
      kind: 'postgres',
      access: 'elevated',
      role: 'rg_w_0190f3c28b2f',
      expires_at: '2025-07-01T10:15:00.000Z',
    },
  },
  'credential.revoked': {
    session: SESSION,
    cell: { ...MUTATING_CELL, execution_id: EXECUTION },
    credential: {
      target: 'orders-db',
      kind: 'postgres',
      access: 'elevated',
      role: 'rg_w_0190f3c28b2f',
    },
    outcome: { result: 'success' },
  },
  'auth.failed': {
    actor: { type: 'anonymous', ip: '10.9.8.7', user_agent: 'python-requests/2.32' },
    http: { method: 'POST', path: '/v1/sessions' },
    outcome: { result: 'failure', reason: 'token expired' },
    details: { kind: 'expired' },
  },
  'policy.reloaded': {
    outcome: { result: 'success' },
    details: {
      files: ['policies/model.conf', 'policies/policy.csv', 'policies/approvals.csv'],
      loaded_at: '2025-07-01T09:00:00.000Z',
    },
  },
  'http.request': {
    actor: ALICE,
    session: SESSION,
    http: {
      method: 'POST',
      path: `/v1/sessions/${SESSION}/cells/restart-receiver/execute`,
      route: '/v1/sessions/:id/cells/:cellId/execute',
      status_code: 200,
      duration_ms: 1611.4,
      request_id: 'req-7f3a',
    },
    outcome: { result: 'success' },
  },
  'auth.web_session.started': {
    actor: { ...ALICE, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' },
    outcome: { result: 'success' },
    details: {
      web_session: '3f1c9a0b7d2e4c58',
      client_id: 'rungate-web',
      auth_time: '2025-07-01T09:59:58.000Z',
    },
  },
  'auth.web_session.ended': {
    outcome: { result: 'success', reason: 'idle timeout' },
    details: { web_session: '3f1c9a0b7d2e4c58', person: { sub: 'alice', name: 'Alice Oncall' } },
  },
  'cell.execution.abandoned': {
    session: SESSION,
    runbook: RUNBOOK,
    cell: { ...MUTATING_CELL, execution_id: EXECUTION },
    outcome: {
      result: 'unknown',
      reason: 'the gateway that ran it went away (crash or kill) before the cell ended',
    },
    details: {
      instance: '0190f3c2-7a41-7000-8000-00000000a001',
      started_at: '2025-07-01T10:00:07.000Z',
    },
  },
  'session.exported': {
    actor: ALICE,
    session: SESSION,
    runbook: RUNBOOK,
    details: { format: 'ipynb' },
  },
  'catalog.updated': {
    outcome: { result: 'success' },
    details: {
      source: 'git',
      commit: '5d2c9a7e1b3f4a6c8d0e2f4a6b8c0d2e4f6a8b0c',
      previous_commit: '1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b',
      instance: '0190f3c1-0000-7000-8000-0000000000aa',
      added: [
        {
          id: 'shop/refund-stuck',
          version: 'b0a7ed00b0a7ed00b0a7ed00b0a7ed00b0a7ed00b0a7ed00b0a7ed00b0a7ed00',
          commit: '5d2c9a7e1b3f4a6c8d0e2f4a6b8c0d2e4f6a8b0c',
        },
      ],
      changed: [
        {
          ...RUNBOOK,
          version: 'decaf000decaf000decaf000decaf000decaf000decaf000decaf000decaf000',
          commit: '5d2c9a7e1b3f4a6c8d0e2f4a6b8c0d2e4f6a8b0c',
          previous_version: RUNBOOK.version,
        },
      ],
      removed: [],
      invalid: [],
    },
  },
};
