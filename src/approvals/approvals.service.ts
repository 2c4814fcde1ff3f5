import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import type { Queryable } from '../db/database';
import { isSqlError, SqlState } from '../db/pg-errors';
import type { Action } from '../policy/actions';
import { PolicyService } from '../policy/policy.service';
import type { Decision, PolicyResource } from '../policy/policy.types';
import { ApprovalAudit, type ApprovalEvent } from './approval-audit';
import { assertTransition } from './approval-state';
import { ApprovalWebhook } from './approval-webhook';
import {
  ApprovalsRepository,
  type NewApproval,
  type StateChange,
  type TransitionRecord,
} from './approvals.repository';
import {
  APPROVAL_SESSION_FACTS,
  type ApprovalPerson,
  type ApprovalQuorum,
  type ApprovalRecord,
  type ApprovalRefusal,
  type ApprovalReview,
  type ApprovalSessionFacts,
  type ApprovalState,
  type BreakGlassInput,
  type ConsumeInput,
  type PriorCellRun,
} from './approvals.types';
import { bindingMismatch, parametersSha256 } from './binding';
import { unifiedDiff } from './line-diff';
import { countQuorum, type QuorumProgress } from './quorum-count';

/** What `POST /approvals` asks for. */
export interface RequestApprovalInput {
  readonly session: string;
  readonly cell: string;
  readonly reason: string;
  readonly incident?: string;
}

/** An approval with its reviews and how far it is from its quorum. */
export interface ApprovalSummary {
  readonly approval: ApprovalRecord;
  readonly reviews: readonly ApprovalReview[];
  readonly progress: QuorumProgress;
}

/** The code of the same cell as last run under an approval, when the runbook changed since. */
export interface CodeSinceLastRun {
  readonly approval: string;
  readonly runbookVersion: string;
  readonly usedAt: Date | null;
  readonly codeChanged: boolean;
  /** Unified diff from the last run code to the requested code; empty when unchanged. */
  readonly diff: string;
}

/** `GET /approvals/{id}`: everything an approver needs on one screen. */
export interface ApprovalView extends ApprovalSummary {
  readonly transitions: readonly TransitionRecord[];
  /** The cells already run in the session, with their recorded outputs. */
  readonly priorOutputs: readonly PriorCellRun[];
  /**
   * The cells that must run (again), in order, on the session's current kernel before
   * this one may (empty: it may run now); null when unknown.
   */
  readonly runFirst: readonly string[] | null;
  /** Present when the same cell ran before under another runbook version. */
  readonly sinceLastRun: CodeSinceLastRun | null;
  /** What the caller may do with it. */
  readonly you: { readonly canApprove: boolean; readonly why?: string };
}

/** An item of `GET /approvals`. */
export interface ApprovalListItem extends ApprovalSummary {
  readonly canApprove: boolean;
}

/** Filters of {@link ApprovalsService.list}. */
export interface ListApprovalsInput {
  readonly state?: ApprovalState;
  readonly session?: string;
  /** Only the caller's own requests. */
  readonly mine?: boolean;
  readonly limit?: number;
}

/** Rows each sweep transaction handles. */
const SWEEP_BATCH = 100;

/**
 * Approvals of mutating cells: requests, reviews with quorum and separation of
 * duties, single use bound to the exact code, parameters, targets and session,
 * expiry, and break-glass. Every state change goes through {@link apply}, which
 * checks the transition table, and records the transition, its audit event and its
 * webhook notification (the outbox) in the same transaction.
 */
@Injectable()
export class ApprovalsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ApprovalsService.name);
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: ApprovalsRepository,
    private readonly policy: PolicyService,
    private readonly audit: ApprovalAudit,
    private readonly webhook: ApprovalWebhook,
    @Inject(APPROVAL_SESSION_FACTS) private readonly facts: ApprovalSessionFacts,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(
      () => void this.sweepSafely(),
      this.config.approvals.sweepIntervalMs,
    );
    this.sweeper.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await this.sweeping?.catch(() => undefined);
  }

  // ---- requests and reviews ---------------------------------------------------

  /** Requests approval for a mutating cell of the caller's own session. */
  async request(principal: Principal, input: RequestApprovalInput): Promise<ApprovalSummary> {
    const session = await this.facts.sessionFacts(input.session);
    if (session === undefined) {
      throw new RungateError(ErrorCode.NotFound, `no session ${input.session}`);
    }
    if (!session.open) {
      throw new RungateError(ErrorCode.SessionEnded, `session ${session.id} is over`);
    }
    if (session.owner.sub !== principal.sub) {
      throw new RungateError(
        ErrorCode.Forbidden,
        `only the owner of session ${session.id} (${session.owner.name}) may request approvals for it`,
      );
    }
    const decision = this.mustAllow(principal, 'cell:execute-mutating', {
      runbook: session.runbook.id,
      environment: session.environment,
      owner: session.owner.sub,
    });
    const cell = session.cells.find((c) => c.id === input.cell);
    if (cell === undefined) {
      throw new RungateError(
        ErrorCode.NotFound,
        `runbook ${session.runbook.id} has no cell "${input.cell}"`,
      );
    }
    if (cell.type !== 'code' || cell.class !== 'mutating') {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        `cell "${cell.id}" is not tagged mutating: it runs without approval (with read-only credentials)`,
      );
    }
    const quorum = this.quorumOf(session.runbook.id, session.environment);
    const requester = personOf(principal, decision);
    const approval = await this.repo
      .transaction(async (tx) => {
        const open = await this.repo.findOpen(session.id, cell.id, tx);
        if (open !== undefined) throw alreadyOpen(open);
        return this.create(
          tx,
          {
            id: randomUUID(),
            state: 'pending',
            sessionId: session.id,
            runbook: session.runbook,
            cell: { id: cell.id, index: cell.index, sha256: cell.sha256 },
            code: cell.source,
            parameters: session.parameters,
            parametersSha256: parametersSha256(session.parameters),
            targets: session.targets,
            environment: session.environment,
            requester,
            reason: input.reason,
            incident: input.incident ?? null,
            breakglass: false,
            severity: 'info',
            quorum,
            expiresAt: new Date(Date.now() + this.config.approvals.pendingTtlMs),
          },
          requester,
        );
      })
      .catch(async (err: unknown) => {
        // Two requests raced past the check: the unique index let only one in.
        if (isSqlError(err, SqlState.UniqueViolation)) {
          const open = await this.repo.findOpen(session.id, cell.id);
          if (open !== undefined) throw alreadyOpen(open);
          throw new RungateError(ErrorCode.Conflict, 'an approval for this cell is already open');
        }
        throw err;
      });
    return this.summary(approval);
  }

  /** One approver's grant; the request is approved when the quorum is met. */
  async approve(principal: Principal, id: string, comment: string): Promise<ApprovalSummary> {
    return this.review(principal, id, 'approve', comment);
  }

  /** A denial ends the request. */
  async deny(principal: Principal, id: string, comment: string): Promise<ApprovalSummary> {
    return this.review(principal, id, 'deny', comment);
  }

  /** The requester withdraws a request (pending, or granted and unused). */
  async cancel(principal: Principal, id: string, comment: string): Promise<ApprovalSummary> {
    const approval = await this.repo.transaction(async (tx) => {
      const rec = await this.mustLock(tx, id);
      if (rec.requester.sub !== principal.sub) {
        throw new RungateError(
          ErrorCode.Forbidden,
          'only the requester may cancel a request; approvers deny',
        );
      }
      const actor = { sub: principal.sub, name: principal.name, groups: [...principal.groups] };
      return this.apply(tx, rec, 'cancelled', {
        actor,
        comment: comment || 'cancelled by the requester',
        change: { closed: { by: actor, comment: comment || null } },
      });
    });
    return this.summary(approval);
  }

  /** An approver acknowledges a break-glass run after the fact; it leaves the review queue. */
  async acknowledge(principal: Principal, id: string, comment: string): Promise<ApprovalSummary> {
    const approval = await this.repo.transaction(async (tx) => {
      const rec = await this.mustLock(tx, id);
      const decision = this.mustAllow(principal, 'approval:approve', resourceOf(rec));
      if (rec.requester.sub === principal.sub) {
        throw new RungateError(
          ErrorCode.Forbidden,
          'separation of duties: whoever broke the glass cannot review it; another approver must',
        );
      }
      if (rec.state !== 'needs_review') {
        throw new RungateError(
          ErrorCode.Conflict,
          `approval ${id} is ${rec.state}, not waiting for review`,
          {
            state: rec.state,
          },
        );
      }
      const actor = personOf(principal, decision);
      return this.apply(tx, rec, 'reviewed', {
        actor,
        comment,
        change: { closed: { by: actor, comment } },
      });
    });
    return this.summary(approval);
  }

  // ---- use --------------------------------------------------------------------

  /**
   * Uses the approval of a mutating cell, inside the caller's transaction (the one
   * that commits the execution row): the approval must be granted, unexpired, unused,
   * and bound to this session, cell id, source hash, parameter set, targets and
   * environment. Exactly one of concurrent callers consumes it.
   *
   * @throws RungateError `approval_required` (403) with `reason_code` and what to
   *   request when there is no usable approval; `conflict` (409) when a concurrent
   *   execution used it first.
   */
  async consume(tx: Queryable, input: ConsumeInput): Promise<{ approval: ApprovalRecord }> {
    const now = new Date();
    const open = await this.repo.findOpen(input.sessionId, input.cellId, tx);
    if (open === undefined) {
      throw await this.noUsableApproval(tx, input);
    }
    if (open.state === 'pending') {
      const progress = countQuorum(
        open.quorum,
        open.requester.sub,
        grantsOf(await this.repo.reviews(open.id, tx)),
      );
      throw refusal(
        input,
        'pending',
        `approval ${open.id} is not granted yet (${progress.approvers} of ${progress.needed} approvers${progress.missingGroups.length > 0 ? `; still needs ${progress.missingGroups.join(', ')}` : ''})`,
        open,
      );
    }
    if (open.useBy !== null && open.useBy <= now) {
      throw refusal(
        input,
        'expired',
        `approval ${open.id} was not used within its window (until ${open.useBy.toISOString()})`,
        open,
      );
    }
    const mismatch = bindingMismatch(open, {
      cellSha256: input.cellSha256,
      parametersHash: input.parametersHash,
      targets: input.targets,
      environment: input.environment,
    });
    if (mismatch !== undefined) throw refusal(input, mismatch.reason, mismatch.detail, open);
    const actor = {
      sub: input.principal.sub,
      name: input.principal.name,
      groups: [...input.principal.groups],
    };
    const approval = await this.apply(tx, open, 'consumed', {
      actor,
      change: { consumed: { executionId: input.executionId, by: actor } },
      lostRace: () =>
        new RungateError(
          ErrorCode.Conflict,
          `approval ${open.id} already used by a concurrent execution`,
          {
            approval: open.id,
          },
        ),
    });
    return { approval };
  }

  /**
   * Records a break-glass run inside the caller's transaction (the one that commits
   * the execution row): a principal with `breakglass` runs a mutating cell with a
   * reason and no approvers. The record is `critical` and waits in the review queue
   * (`needs_review`) until an approver acknowledges it. The notification goes out
   * once the caller's transaction committed.
   */
  async breakGlass(tx: Queryable, input: BreakGlassInput): Promise<{ approval: ApprovalRecord }> {
    const principal: Principal = {
      sub: input.principal.sub,
      name: input.principal.name,
      groups: input.principal.groups,
    };
    const decision = this.mustAllow(principal, 'breakglass', {
      runbook: input.runbook.id,
      environment: input.environment,
      owner: input.sessionOwner,
    });
    if (input.reason.trim().length < 3) {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        'break-glass needs a reason (at least 3 characters)',
      );
    }
    const actor = personOf(principal, decision);
    const approval = await this.create(
      tx,
      {
        id: randomUUID(),
        state: 'needs_review',
        sessionId: input.sessionId,
        runbook: input.runbook,
        cell: { id: input.cellId, index: input.cellIndex, sha256: input.cellSha256 },
        code: input.code,
        parameters: input.parameters,
        parametersSha256: parametersSha256(input.parameters),
        targets: input.targets,
        environment: input.environment,
        requester: actor,
        reason: input.reason,
        incident: input.incident ?? null,
        breakglass: true,
        severity: 'critical',
        quorum: this.quorumOf(input.runbook.id, input.environment),
        expiresAt: new Date(),
        consumed: { executionId: input.executionId, by: actor },
      },
      actor,
    );
    return { approval };
  }

  /**
   * Cancels the open requests of a session that ended, in the caller's transaction.
   */
  async cancelForSession(
    tx: Queryable,
    sessionId: string,
    reason: string,
  ): Promise<{ cancelled: ApprovalRecord[] }> {
    const cancelled: ApprovalRecord[] = [];
    for (const rec of await this.repo.lockOpenOfSession(tx, sessionId)) {
      cancelled.push(
        await this.apply(tx, rec, 'cancelled', {
          actor: null,
          comment: reason,
          change: { closed: { by: null, comment: reason } },
        }),
      );
    }
    return { cancelled };
  }

  // ---- expiry -----------------------------------------------------------------

  /** Marks expired every request past its TTL and approval past its use window; returns how many. */
  async sweep(now: Date = new Date()): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.repo.transaction(async (tx) => {
        const due = await this.repo.lockDue(tx, now, SWEEP_BATCH);
        for (const rec of due) {
          await this.apply(tx, rec, 'expired', {
            actor: null,
            comment:
              rec.state === 'pending'
                ? 'no quorum within the pending time'
                : 'not used within the use window',
            change: { closed: { by: null, comment: null } },
          });
        }
        return due.length;
      });
      total += n;
      if (n < SWEEP_BATCH) return total;
    }
  }

  // ---- reading ----------------------------------------------------------------

  /** The policy resource of an approval (its runbook, environment, and the requester as owner). */
  async resourceOf(id: string): Promise<PolicyResource> {
    const rec = await this.repo.find(id);
    if (rec === undefined) throw new RungateError(ErrorCode.NotFound, `no approval ${id}`);
    return resourceOf(rec);
  }

  async get(principal: Principal, id: string): Promise<ApprovalView> {
    const rec = await this.repo.find(id);
    if (rec === undefined) throw new RungateError(ErrorCode.NotFound, `no approval ${id}`);
    const [summary, transitions, priorOutputs, last, runFirst] = await Promise.all([
      this.summary(rec),
      this.repo.transitions(id),
      this.facts.priorOutputs(rec.sessionId),
      this.repo.lastUsedForCell(rec.runbook.id, rec.cell.id, rec.id),
      this.facts.runFirst?.(rec.sessionId, rec.cell.id),
    ]);
    let sinceLastRun: CodeSinceLastRun | null = null;
    if (last !== undefined && last.runbook.version !== rec.runbook.version) {
      sinceLastRun = {
        approval: last.id,
        runbookVersion: last.runbook.version,
        usedAt: last.consumedAt,
        codeChanged: last.cell.sha256 !== rec.cell.sha256,
        diff: unifiedDiff(last.code, rec.code, {
          fromLabel: `${rec.runbook.id}@${last.runbook.version.slice(0, 12)}:${rec.cell.id}`,
          toLabel: `${rec.runbook.id}@${rec.runbook.version.slice(0, 12)}:${rec.cell.id}`,
        }),
      };
    }
    return {
      ...summary,
      transitions,
      priorOutputs,
      runFirst: runFirst ?? null,
      sinceLastRun,
      you: this.canApprove(principal, rec),
    };
  }

  /**
   * Approvals the caller may see, newest first: their own requests, those they may
   * review, and those of sessions they may read.
   */
  async list(principal: Principal, input: ListApprovalsInput): Promise<ApprovalListItem[]> {
    const rows = await this.repo.list({
      states: input.state !== undefined ? [input.state] : undefined,
      sessionId: input.session,
      requesterSub: input.mine === true ? principal.sub : undefined,
      limit: Math.min(500, Math.max(1, input.limit ?? 100)),
    });
    // One pass: who may see each row (a decision only where it is not their own
    // request), then the reviews of all visible rows in one query.
    const visible: Array<{ rec: ApprovalRecord; canApprove: boolean }> = [];
    for (const rec of rows) {
      const own = rec.requester.sub === principal.sub;
      const reviewer =
        !own && this.policy.authorize(principal, 'approval:approve', resourceOf(rec)).allowed;
      if (
        own ||
        reviewer ||
        this.policy.authorize(principal, 'session:read', resourceOf(rec)).allowed
      ) {
        const open = rec.state === 'pending' || rec.state === 'needs_review';
        visible.push({ rec, canApprove: reviewer && open });
      }
    }
    const reviews = await this.repo.reviewsOf(visible.map((v) => v.rec.id));
    return visible.map(({ rec, canApprove }) => {
      const recReviews = reviews.get(rec.id) ?? [];
      return {
        approval: rec,
        reviews: recReviews,
        progress: countQuorum(rec.quorum, rec.requester.sub, grantsOf(recReviews)),
        canApprove,
      };
    });
  }

  // ---- internals --------------------------------------------------------------

  private async review(
    principal: Principal,
    id: string,
    decisionKind: 'approve' | 'deny',
    comment: string,
  ): Promise<ApprovalSummary> {
    let expiredNow = false;
    const approval = await this.repo.transaction(async (tx) => {
      const rec = await this.mustLock(tx, id);
      const decision = this.mustAllow(principal, 'approval:approve', resourceOf(rec));
      if (rec.requester.sub === principal.sub) {
        throw new RungateError(
          ErrorCode.Forbidden,
          'separation of duties: the requester cannot review their own request; another approver must',
          { approval: id },
        );
      }
      if (rec.state === 'pending' && rec.expiresAt <= new Date()) {
        // Past its TTL but not swept yet: expire it now, and say so after the commit.
        expiredNow = true;
        return this.apply(tx, rec, 'expired', {
          actor: null,
          comment: 'no quorum within the pending time',
          change: { closed: { by: null, comment: null } },
        });
      }
      if (rec.state !== 'pending') {
        throw new RungateError(
          ErrorCode.Conflict,
          `approval ${id} is ${rec.state}; only pending requests are reviewed`,
          {
            state: rec.state,
          },
        );
      }
      const reviewer = personOf(principal, decision);
      if (!(await this.repo.addReview(tx, id, reviewer, decisionKind, comment))) {
        throw new RungateError(
          ErrorCode.Conflict,
          `you already reviewed approval ${id}; a person counts once`,
          {
            approval: id,
          },
        );
      }
      if (decisionKind === 'deny') {
        return this.apply(tx, rec, 'denied', {
          actor: reviewer,
          comment,
          change: { closed: { by: reviewer, comment } },
        });
      }
      const progress = countQuorum(
        rec.quorum,
        rec.requester.sub,
        grantsOf(await this.repo.reviews(id, tx)),
      );
      if (!progress.met) {
        // A grant short of the quorum changes no state, but is recorded all the same.
        await this.emit(tx, {
          type: 'approval.granted',
          approval: rec,
          actor: reviewer,
          comment,
          approvals: progress.approvers,
        });
        return rec;
      }
      const now = new Date();
      return this.apply(tx, rec, 'approved', {
        actor: reviewer,
        comment,
        approvals: progress.approvers,
        change: {
          approvedAt: now,
          useBy: new Date(now.getTime() + this.config.approvals.useWindowMs),
        },
      });
    });
    if (expiredNow) {
      throw new RungateError(
        ErrorCode.Conflict,
        `approval ${id} expired before it was reviewed; request a new one`,
        {
          state: 'expired',
        },
      );
    }
    return this.summary(approval);
  }

  /** The one place a new approval is written: checks the table, records, audits. */
  private async create(
    tx: Queryable,
    fresh: NewApproval,
    actor: ApprovalPerson,
  ): Promise<ApprovalRecord> {
    const type = assertTransition('new', fresh.state);
    const rec = await this.repo.insert(tx, fresh);
    await this.repo.recordTransition(tx, rec.id, {
      from: 'new',
      to: rec.state,
      event: type,
      actor,
      comment: fresh.reason,
    });
    await this.emit(tx, { type, approval: rec, actor, comment: fresh.reason });
    return rec;
  }

  /**
   * The one place an approval changes state: refuses moves the table does not allow,
   * moves the row only if nobody moved it first (else `lostRace`, by default a 409),
   * and records the transition and its audit event in `tx`.
   */
  private async apply(
    tx: Queryable,
    rec: ApprovalRecord,
    to: ApprovalState,
    step: {
      actor: ApprovalPerson | null;
      comment?: string;
      approvals?: number;
      change: StateChange;
      lostRace?: () => RungateError;
    },
  ): Promise<ApprovalRecord> {
    const type = assertTransition(rec.state, to);
    const moved = await this.repo.move(tx, rec.id, rec.state, to, step.change);
    if (moved === undefined) {
      throw (
        step.lostRace?.() ??
        new RungateError(ErrorCode.Conflict, `approval ${rec.id} changed meanwhile; try again`, {
          approval: rec.id,
        })
      );
    }
    await this.repo.recordTransition(tx, rec.id, {
      from: rec.state,
      to,
      event: type,
      actor: step.actor,
      comment: step.comment ?? null,
    });
    await this.emit(tx, {
      type,
      approval: moved,
      actor: step.actor,
      comment: step.comment,
      approvals: step.approvals,
    });
    return moved;
  }

  /**
   * Records a step's audit event and writes its notification, both in the step's
   * transaction; each registers on `tx` the wake-up of its sender for after the commit.
   */
  private async emit(tx: Queryable, event: ApprovalEvent): Promise<void> {
    await this.audit.record(tx, event);
    await this.webhook.enqueue(tx, event);
  }

  /** Why there is nothing to consume, as the `approval_required` error to throw. */
  private async noUsableApproval(tx: Queryable, input: ConsumeInput): Promise<RungateError> {
    const latest = await this.repo.latestFor(tx, input.sessionId, input.cellId);
    if (latest?.state === 'consumed') {
      if (
        latest.consumedExecutionId !== null &&
        input.inFlightExecutionIds?.includes(latest.consumedExecutionId)
      ) {
        return new RungateError(
          ErrorCode.Conflict,
          `approval ${latest.id} already used by execution ${latest.consumedExecutionId}, which has not finished`,
          { approval: latest.id, execution: latest.consumedExecutionId },
        );
      }
      return refusal(
        input,
        'consumed',
        `approval ${latest.id} was used by an earlier run; each run needs its own approval`,
        latest,
      );
    }
    if (latest?.state === 'expired') {
      return refusal(input, 'expired', `approval ${latest.id} expired`, latest);
    }
    if (latest?.state === 'denied') {
      return refusal(
        input,
        'denied',
        `approval ${latest.id} was denied${latest.closeComment ? `: ${latest.closeComment}` : ''}`,
        latest,
      );
    }
    const elsewhere = await this.repo.approvedElsewhere(
      tx,
      input.sessionId,
      input.cellId,
      input.principal.sub,
    );
    if (elsewhere !== undefined) {
      return refusal(
        input,
        'other_session',
        `approval ${elsewhere.id} is for session ${elsewhere.sessionId}, not this one`,
        elsewhere,
      );
    }
    return refusal(
      input,
      'none',
      `cell "${input.cellId}" changes production and needs an approval before it runs`,
    );
  }

  private async summary(approval: ApprovalRecord): Promise<ApprovalSummary> {
    const reviews = await this.repo.reviews(approval.id);
    return {
      approval,
      reviews,
      progress: countQuorum(approval.quorum, approval.requester.sub, grantsOf(reviews)),
    };
  }

  private canApprove(
    principal: Principal,
    rec: ApprovalRecord,
  ): { canApprove: boolean; why?: string } {
    if (rec.requester.sub === principal.sub) return { canApprove: false, why: 'you requested it' };
    if (rec.state !== 'pending' && rec.state !== 'needs_review') {
      return { canApprove: false, why: `it is ${rec.state}` };
    }
    const decision = this.policy.authorize(principal, 'approval:approve', resourceOf(rec));
    return decision.allowed ? { canApprove: true } : { canApprove: false, why: decision.reason };
  }

  private mustAllow(principal: Principal, action: Action, resource: PolicyResource): Decision {
    const decision = this.policy.authorize(principal, action, resource);
    if (!decision.allowed) {
      throw new RungateError(ErrorCode.Forbidden, `not allowed: ${action}`, {
        action,
        rule: decision.rule,
        reason: decision.reason,
      });
    }
    return decision;
  }

  private async mustLock(tx: Queryable, id: string): Promise<ApprovalRecord> {
    const rec = await this.repo.lock(tx, id);
    if (rec === undefined) throw new RungateError(ErrorCode.NotFound, `no approval ${id}`);
    return rec;
  }

  private quorumOf(runbook: string, environment: string): ApprovalQuorum {
    const q = this.policy.quorumFor(runbook, environment);
    return {
      approvers: q.approvers,
      distinctGroups: [...(q.distinctGroups ?? [])],
      rule: q.rule === null ? null : [...q.rule],
    };
  }

  private sweepSafely(): Promise<number> {
    if (this.sweeping) return this.sweeping;
    const run = this.sweep()
      .catch((err: unknown) => {
        this.logger.warn(`approval expiry sweep failed: ${(err as Error).message}`);
        return 0;
      })
      .finally(() => {
        this.sweeping = undefined;
      });
    this.sweeping = run;
    return run;
  }
}

/** Groups as policy evaluated the principal: token groups plus local `g` grants. */
function personOf(principal: Principal, decision: Decision): ApprovalPerson {
  const groups = new Set(principal.groups);
  for (const s of decision.subjects)
    if (s.startsWith('group:')) groups.add(s.slice('group:'.length));
  return { sub: principal.sub, name: principal.name, groups: [...groups].sort() };
}

function grantsOf(reviews: readonly ApprovalReview[]) {
  return reviews
    .filter((r) => r.decision === 'approve')
    .map((r) => ({ sub: r.reviewer.sub, groups: r.reviewer.groups }));
}

function resourceOf(rec: ApprovalRecord): PolicyResource {
  return { runbook: rec.runbook.id, environment: rec.environment, owner: rec.requester.sub };
}

function alreadyOpen(open: ApprovalRecord): RungateError {
  return new RungateError(
    ErrorCode.Conflict,
    `approval ${open.id} for cell "${open.cell.id}" of this session is already ${open.state}`,
    { approval: open.id, state: open.state },
  );
}

/** An `approval_required` answer: why, and what to request. */
function refusal(
  input: Pick<ConsumeInput, 'sessionId' | 'cellId'>,
  reason: ApprovalRefusal,
  detail: string,
  approval?: ApprovalRecord,
): RungateError {
  const canReuse = reason === 'pending';
  return new RungateError(ErrorCode.ApprovalRequired, detail, {
    reason_code: reason,
    session: input.sessionId,
    cell: input.cellId,
    ...(approval !== undefined ? { approval: { id: approval.id, state: approval.state } } : {}),
    request: canReuse
      ? { method: 'GET', path: `/v1/approvals/${approval?.id ?? ''}` }
      : {
          method: 'POST',
          path: '/v1/approvals',
          body: {
            session: input.sessionId,
            cell: input.cellId,
            reason: '<why this change is needed>',
          },
        },
  });
}
