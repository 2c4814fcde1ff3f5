import { describe, expect, it } from 'vitest';
import type {
  ApprovalRecord,
  ApprovalsService,
  ApprovalSummary,
  ApprovalView,
  RequestApprovalInput,
} from '../approvals';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { loadConfig } from '../config/load-config';
import type { Decision } from '../policy/policy.types';
import { parseNotebook } from '../runbooks';
import { SessionApprovals } from './session-approvals.service';
import type { SessionsRepository } from './sessions.repository';
import type { ExecutionRecord, SessionRecord } from './sessions.types';

const RUNBOOK = 'shop/refund';
const CONTENT = JSON.stringify({
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {
    kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
    rungate: {
      title: 'Refund',
      description: 'Refund',
      owner: 'test',
      targets: ['shop-db'],
      environment: 'prod',
    },
  },
  cells: [
    { cell_type: 'markdown', id: 'intro', metadata: {}, source: '# Refund' },
    code('look', 'print(order_id)', []),
    code('refund', 'refund(order_id)', ['mutating']),
  ],
});
const PINNED = parseNotebook(RUNBOOK, CONTENT, { defaultKernel: 'python3' });
if (!PINNED.valid) throw new Error(`test runbook is invalid: ${PINNED.reason}`);
const VERSION = PINNED.version;
const PINNED_CELLS = PINNED.cells;

function code(id: string, source: string, tags: string[]) {
  return { cell_type: 'code', id, metadata: { tags }, source, outputs: [], execution_count: null };
}

const alice: Principal = { sub: 'alice', name: 'Alice Oncall', groups: ['oncall'] };

function newSession(over: Partial<SessionRecord> = {}): SessionRecord {
  const now = new Date();
  return {
    id: '0190a9c6-0000-7000-8000-000000000001',
    runbookId: RUNBOOK,
    runbookVersion: VERSION,
    environment: 'prod',
    targets: ['shop-db'],
    parameters: { order_id: 'A-1' },
    reason: 'test',
    incident: null,
    owner: { sub: 'alice', name: 'Alice Oncall' },
    state: 'idle',
    kernel: { id: 'k1', pid: 1, name: 'python3' },
    createdAt: now,
    lastActivityAt: now,
    expiresAt: now,
    endedAt: null,
    endReason: null,
    ...over,
  };
}

function newExecution(over: Partial<ExecutionRecord> = {}): ExecutionRecord {
  const now = new Date();
  return {
    id: '0190a9c6-0000-7000-8000-0000000000e1',
    sessionId: newSession().id,
    seq: 1,
    cellId: 'look',
    cellIndex: 1,
    cellSha256: 'f'.repeat(64),
    cellClass: 'read-only',
    code: 'print(order_id)',
    state: 'ok',
    executionCount: 1,
    error: null,
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'A-1\n' }],
    outputBytes: 40,
    truncated: false,
    kernelId: 'k1',
    requestedBy: { sub: 'alice', name: 'Alice Oncall' },
    requestedAt: now,
    startedAt: now,
    finishedAt: now,
    ...over,
  };
}

/** A pending approval of the refund cell of `session`, as the ledger records it. */
function newApproval(session: SessionRecord): ApprovalRecord {
  const now = new Date();
  return {
    id: '0190a9c6-0000-7000-8000-0000000000a1',
    state: 'pending',
    sessionId: session.id,
    runbook: { id: session.runbookId, version: session.runbookVersion },
    cell: { id: 'refund', index: 2, sha256: PINNED_CELLS[2].sha256 },
    code: PINNED_CELLS[2].source,
    parameters: { values: session.parameters, sha256: 'p'.repeat(64) },
    targets: session.targets,
    environment: session.environment,
    requester: { sub: 'alice', name: 'Alice Oncall', groups: ['oncall'] },
    reason: 'double charge',
    incident: null,
    breakglass: false,
    severity: 'info',
    quorum: { approvers: 1, distinctGroups: [], rule: null },
    createdAt: now,
    expiresAt: now,
    approvedAt: null,
    useBy: null,
    closedAt: null,
    consumedAt: null,
    consumedExecutionId: null,
    consumedBy: null,
    closedBy: null,
    closeComment: null,
  };
}

function newSummary(session: SessionRecord): ApprovalSummary {
  return {
    approval: newApproval(session),
    reviews: [],
    progress: { approvers: 0, needed: 1, missingGroups: [], met: false },
  };
}

/** The ledger's view of the approval of the refund cell of `session`. */
function newView(session: SessionRecord): ApprovalView {
  return { ...newSummary(session), transitions: [], sinceLastRun: null, you: { canApprove: true } };
}

/**
 * SessionApprovals over one stored session and its executions, with a ledger that
 * records what it is handed.
 */
function setUp(session: SessionRecord | undefined, executions: ExecutionRecord[] = []) {
  const requests: RequestApprovalInput[] = [];
  const repo: Pick<SessionsRepository, 'findSession' | 'snapshot' | 'listExecutions'> = {
    findSession: (id) => Promise.resolve(session?.id === id ? session : undefined),
    snapshot: (id, version) =>
      Promise.resolve(id === RUNBOOK && version === VERSION ? CONTENT : undefined),
    listExecutions: (id) => Promise.resolve(executions.filter((e) => e.sessionId === id)),
  };
  const ledger: Pick<ApprovalsService, 'request' | 'get'> = {
    request: (_principal, input) => {
      requests.push(input);
      if (session === undefined) throw new Error('no session to request for');
      return Promise.resolve(newSummary(session));
    },
    get: () => {
      if (session === undefined) throw new Error('no session to view');
      return Promise.resolve(newView(session));
    },
  };
  const config = loadConfig({ NODE_ENV: 'test', RUNGATE_DEMO_TARGET: 'false' });
  const service = new SessionApprovals(
    repo as SessionsRepository,
    ledger as ApprovalsService,
    config,
  );
  return { service, requests };
}

async function refusal(p: Promise<unknown>): Promise<ErrorCode | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    if (!(err instanceof RungateError)) throw err;
    return err.code;
  }
}

/** The guard's decision for the request, which the service hands on to the ledger. */
const DECIDED: Decision = {
  allowed: true,
  action: 'cell:execute-mutating',
  subjects: ['user:alice', 'group:oncall'],
  resource: RUNBOOK,
  environment: 'prod',
  owner: 'alice',
  rule: ['group:oncall', '*', '**', 'cell:execute-mutating', 'allow'],
  reason: 'allowed',
  policyLoadedAt: null,
};

describe(SessionApprovals.name, () => {
  describe('request', () => {
    it('hands the ledger the session and the cell of its pinned version', async () => {
      const session = newSession();
      const { service, requests } = setUp(session);
      await service.request(
        alice,
        { session: session.id, cell: 'refund', reason: 'double charge', incident: 'INC-1' },
        DECIDED,
      );
      expect(requests).toEqual([
        {
          session: {
            id: session.id,
            owner: { sub: 'alice', name: 'Alice Oncall' },
            runbook: { id: RUNBOOK, version: VERSION },
            environment: 'prod',
            targets: ['shop-db'],
            parameters: { order_id: 'A-1' },
          },
          cell: {
            id: 'refund',
            index: 2,
            type: 'code',
            class: 'mutating',
            source: 'refund(order_id)',
            sha256: PINNED_CELLS[2].sha256,
          },
          reason: 'double charge',
          incident: 'INC-1',
          decision: DECIDED,
        },
      ]);
    });

    it('refuses before asking the ledger: unknown session, ended, not the owner, unknown cell', async () => {
      const cases: Array<[SessionRecord | undefined, Principal, string, ErrorCode]> = [
        [undefined, alice, 'refund', ErrorCode.NotFound],
        // An ended session, or somebody else's, says so even for a cell it lacks.
        [newSession({ state: 'ended' }), alice, 'nope', ErrorCode.SessionEnded],
        [newSession({ state: 'lost' }), alice, 'refund', ErrorCode.SessionEnded],
        [newSession(), { ...alice, sub: 'bob' }, 'nope', ErrorCode.Forbidden],
        [newSession(), alice, 'nope', ErrorCode.NotFound],
      ];
      for (const [session, principal, cell, code] of cases) {
        const { service, requests } = setUp(session);
        const input = { session: newSession().id, cell, reason: 'why not' };
        expect(await refusal(service.request(principal, input, DECIDED))).toBe(code);
        expect(requests).toEqual([]);
      }
    });
  });

  describe('get', () => {
    it("adds the session's outputs and the cells to run first to the ledger's view", async () => {
      const session = newSession();
      const ran = newExecution();
      const { service } = setUp(session, [ran]);
      const screen = await service.get(alice, newApproval(session).id);
      // The fields in the order the API answers them.
      expect(Object.keys(screen)).toEqual([
        'approval',
        'reviews',
        'progress',
        'transitions',
        'priorOutputs',
        'runFirst',
        'sinceLastRun',
        'you',
      ]);
      expect(screen.priorOutputs).toEqual([
        {
          executionId: ran.id,
          seq: 1,
          cellId: 'look',
          state: 'ok',
          outputs: ran.outputs,
          truncated: false,
          finishedAt: ran.finishedAt,
        },
      ]);
      expect(screen.runFirst).toEqual([]);
    });

    it('names the cells to run again on a new kernel', async () => {
      const session = newSession({ kernel: { id: 'k2', pid: 2, name: 'python3' } });
      const { service } = setUp(session, [newExecution()]);
      const screen = await service.get(alice, newApproval(session).id);
      expect(screen.runFirst).toEqual(['look']);
      expect(screen.priorOutputs.map((p) => p.cellId)).toEqual(['look']);
    });
  });
});
