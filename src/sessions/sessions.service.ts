import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Observable, concat, of } from 'rxjs';
import { ApprovalsService, parametersSha256, type ApprovalRecord } from '../approvals';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { Redactor } from '../common/redact';
import { APP_CONFIG } from '../config/config.module';
import type { Queryable } from '../db/database';
import { executionSeconds, executionsTotal } from '../telemetry/metrics';
import type { AppConfig } from '../config/config.types';
import { KernelsService } from '../kernels/kernels.service';
import type { ExecuteResult, Kernel, KernelLimit, Relay } from '../kernels/kernels.types';
import { parseNotebook, renderParametersCell, validateParameters } from '../runbooks';
import { RunbooksService } from '../runbooks/runbooks.service';
import type { Runbook, RunbookCell } from '../runbooks/runbooks.types';
import { currentTraceContext, currentTraceparent } from '../telemetry/otel';
import { PolicyService } from '../policy/policy.service';
import { TargetsService } from '../targets/targets.service';
import type { SessionCredentials } from '../targets/targets.types';
import { liveEvents, OutputRecorder } from './output-recorder';
import { SessionAudit } from './session-audit';
import { assertSessionMove, isSessionOver } from './session-state';
import { SessionRuntime, newPending, type PendingExecution } from './session-runtime';
import { SessionsRepository, type ExecutionOutcome } from './sessions.repository';
import type { ExecutionRecord, SessionEvent, SessionRecord, SessionState } from './sessions.types';

export interface StartSessionInput {
  runbook: string;
  version?: string;
  parameters?: Record<string, unknown>;
  reason: string;
  incident?: string;
}

/** A break-glass run: a mutating cell without approvers, reviewed after the fact. */
export interface BreakGlass {
  reason: string;
  incident?: string;
}

export interface SessionView {
  session: SessionRecord;
  runbook: Runbook;
  executions: ExecutionRecord[];
}

/** How often idle and lifetime limits are checked. */
const SWEEP_INTERVAL_MS = 1000;
/** An interrupt is repeated this often, for at most this long, until the cell stops. */
const INTERRUPT_REPEAT_MS = 250;
const INTERRUPT_RETRY_MS = 5000;
/** Tries at recording the end of an execution before giving up (and logging). */
const FINISH_ATTEMPTS = 3;
/** Elevated credentials outlive their cell's timeout by this much, in case revocation is slow. */
const ELEVATION_GRACE_MS = 60_000;

/**
 * Orchestrates sessions: binds a kernel, runs cells one at a time in request
 * order, streams their outputs, and ends sessions on request, on idle timeout
 * and at their maximum lifetime.
 */
@Injectable()
export class SessionsService implements OnModuleInit, BeforeApplicationShutdown {
  private readonly log = new Logger(SessionsService.name);
  private readonly runtimes = new Map<string, SessionRuntime>();
  private readonly instanceId = randomUUID();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: SessionsRepository,
    private readonly runbooks: RunbooksService,
    private readonly kernels: KernelsService,
    private readonly targets: TargetsService,
    private readonly audit: SessionAudit,
    private readonly approvals: ApprovalsService,
    private readonly policy: PolicyService,
  ) {}

  async onModuleInit(): Promise<void> {
    const reason = 'the gateway restarted and the session kernel is gone';
    const lost = await this.repo.markOpenSessionsLost(reason, async (tx, sessions) => {
      for (const s of sessions) await this.audit.sessionEnded(tx, s, reason, true);
    });
    if (lost.length > 0) {
      this.log.warn({ sessions: lost.map((s) => s.id) }, `marked ${lost.length} session(s) lost`);
    }
    // Credentials minted for sessions that are over (a crash left them) are revoked now.
    const swept = await this.targets.sweepOrphans(async (id) => this.repo.isOpen(id));
    if (swept.dropped.length > 0 || swept.failed.length > 0) {
      this.log.warn(swept, 'swept credentials left by sessions that are over');
    }
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /** Before kernels and the database go away: each open session ends and says why. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.allSettled(
      [...this.runtimes.values()].map((rt) => this.endRuntime(rt, 'the gateway shut down')),
    );
  }

  // ---- sessions -------------------------------------------------------------

  async start(principal: Principal, input: StartSessionInput): Promise<SessionView> {
    this.assertRoomFor(principal);
    const runbook = await this.resolveRunbook(input.runbook, input.version);
    const parameters = runbook.parameters
      ? validateParameters(runbook, input.parameters ?? {})
      : rejectParameters(input.parameters);
    const environment = this.environmentOf(runbook);
    const id = randomUUID();
    const expiresAt = new Date(Date.now() + this.config.sessions.maxLifetimeMs);
    // Where the kernel reaches each target (through forwarders, in a sandbox): its
    // credentials name those addresses.
    const routes = this.kernels.planRoutes(this.targets.endpoints(runbook.targets));
    const credentials = await this.targets.issueSessionCredentials(
      runbook.targets,
      { id, expiresAt },
      routes.route,
    );
    const redactor = new Redactor(credentials.secrets);
    let session: SessionRecord;
    try {
      session = await this.recorded(async (tx) => {
        const created = await this.repo.insertSession(
          {
            id,
            runbookId: runbook.id,
            runbookVersion: runbook.version,
            runbookContent: runbook.content,
            environment,
            targets: runbook.targets,
            parameters,
            reason: input.reason,
            incident: input.incident ?? null,
            owner: { sub: principal.sub, name: principal.name },
            instanceId: this.instanceId,
            expiresAt,
          },
          tx,
        );
        await this.audit.sessionStarted(tx, created, credentials, (v) => redactor.value(v));
        return created;
      });
    } catch (err) {
      await credentials.release().catch(() => undefined);
      throw err;
    }
    const rt = new SessionRuntime(session, runbook, credentials, routes, redactor);
    this.runtimes.set(id, rt);
    try {
      await this.attachKernel(rt, principal);
    } catch (err) {
      await this.endRuntime(rt, `no kernel could be started: ${(err as Error).message}`);
      throw err;
    }
    return this.view(id);
  }

  /**
   * A session's environment is where its targets are: the policy and the quorum key
   * on it, so a runbook's own label must agree with them (a `staging` label on a
   * runbook that reaches a `prod` database would dodge the prod rules).
   */
  environmentOf(runbook: Runbook): string {
    const where = new Map<string, string[]>();
    for (const name of runbook.targets) {
      const env = this.targets.describe(name)?.environment;
      if (env !== undefined) where.set(env, [...(where.get(env) ?? []), name]);
    }
    const conflict = [...where].find(([env]) => env !== runbook.environment);
    if (conflict) {
      throw new RungateError(
        ErrorCode.RunbookInvalid,
        `runbook ${runbook.id} says it runs in "${runbook.environment}", but its target ` +
          `${conflict[1].join(', ')} is in "${conflict[0]}"`,
        { environment: runbook.environment, targets: Object.fromEntries(where) },
      );
    }
    return runbook.environment;
  }

  /** Each session holds a kernel process: their number is bounded, in all and per person. */
  private assertRoomFor(principal: Principal): void {
    const open = [...this.runtimes.values()].filter((rt) => !rt.ending);
    const mine = open.filter((rt) => rt.session.owner.sub === principal.sub);
    if (mine.length >= this.config.sessions.maxOpenPerUser) {
      throw new RungateError(
        ErrorCode.Busy,
        `you already have ${mine.length} open sessions (the limit is ${this.config.sessions.maxOpenPerUser}); end one with DELETE /v1/sessions/{id}`,
        { open: mine.map((rt) => rt.id) },
      );
    }
    if (open.length >= this.config.sessions.maxOpen) {
      throw new RungateError(
        ErrorCode.Busy,
        `this gateway runs ${open.length} sessions, its limit; try again when one ends`,
      );
    }
  }

  async get(id: string): Promise<SessionView> {
    return this.view(id);
  }

  async list(filter: { ownerSub?: string; state?: 'open' | 'over'; limit?: number }) {
    return this.repo.listSessions({ ...filter, limit: filter.limit ?? 100 });
  }

  async end(principal: Principal, id: string): Promise<SessionView> {
    const reason =
      (await this.resourceOf(id)).owner === principal.sub
        ? 'ended by its owner'
        : `ended by ${principal.name}`;
    const rt = this.runtimes.get(id);
    if (rt) {
      await this.endRuntime(rt, reason);
    } else {
      // Open in the database but not held here: its kernel is gone; close the record.
      const s = await this.mustFind(id);
      if (!isSessionOver(s.state)) {
        await this.recorded(async (tx) => {
          await this.repo.setSessionState(id, 'ended', { endReason: reason }, tx);
          await this.audit.sessionEnded(tx, s, reason);
        });
      }
    }
    return this.view(id);
  }

  /** Attaches a fresh kernel to a session whose kernel died (or replaces a live one). */
  async replaceKernel(principal: Principal, id: string): Promise<SessionView> {
    const rt = await this.liveRuntime(id);
    if (rt.running || rt.queue.length > 0) {
      throw new RungateError(ErrorCode.Busy, 'the session is running a cell; interrupt it first');
    }
    const old = rt.unbindKernel();
    if (old) void old.shutdown().catch(() => undefined);
    await this.attachKernel(rt, principal);
    return this.view(id);
  }

  // ---- executions -----------------------------------------------------------

  /** Queues one cell; resolves when it is queued (`wait` false) or finished. */
  async execute(
    principal: Principal,
    sessionId: string,
    cellId: string,
    wait: boolean,
    breakGlass?: BreakGlass,
  ): Promise<ExecutionRecord> {
    const rt = await this.liveRuntime(sessionId);
    const cell = rt.runbook.cells.find((c) => c.id === cellId);
    if (!cell) {
      throw new RungateError(
        ErrorCode.NotFound,
        `runbook ${rt.runbook.id} has no cell "${cellId}"`,
      );
    }
    if (cell.type !== 'code') {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        `cell "${cell.id}" is ${cell.type}, not code`,
      );
    }
    if (breakGlass && cell.class !== 'mutating') {
      throw new RungateError(
        ErrorCode.InvalidRequest,
        `cell "${cell.id}" is read-only: break-glass is for mutating cells`,
      );
    }
    if (cell.class === 'mutating') {
      // Running a change of production is its own permission (break-glass is checked
      // by approvals against `breakglass`), whatever the approval says.
      if (!breakGlass) this.assertMayRunMutating(principal, rt);
      this.assertCurrentCode(rt, cell);
    }
    const pending = await this.enqueue(rt, principal, [cell], null, breakGlass);
    return wait ? pending[0].done : pending[0].record;
  }

  /** Queues every read-only cell in order, stopping before the first mutating one. */
  async runReadOnly(
    principal: Principal,
    sessionId: string,
    wait: boolean,
  ): Promise<{ executions: ExecutionRecord[]; stoppedBefore: string | null }> {
    const rt = await this.liveRuntime(sessionId);
    const cells: RunbookCell[] = [];
    let stoppedBefore: string | null = null;
    for (const cell of rt.runbook.cells) {
      if (cell.type !== 'code') continue;
      if (cell.class === 'mutating') {
        stoppedBefore = cell.id;
        break;
      }
      cells.push(cell);
    }
    const pending = await this.enqueue(rt, principal, cells, randomUUID());
    const executions = wait
      ? await Promise.all(pending.map((p) => p.done))
      : pending.map((p) => p.record);
    return { executions, stoppedBefore };
  }

  /** Stops the running cell and drops the queued ones. */
  async interrupt(sessionId: string): Promise<{ interrupted: string | null; cancelled: string[] }> {
    const rt = await this.liveRuntime(sessionId);
    const cancelled = await this.cancelQueue(rt);
    const running = rt.running;
    if (running) await this.stopRunning(rt, running);
    return { interrupted: running?.record.id ?? null, cancelled };
  }

  /**
   * Interrupts until the running execution ends. A kernel ignores SIGINT between
   * receiving a request and starting its code, so one signal can be lost; we
   * repeat it for a short while rather than leave the cell running.
   */
  private async stopRunning(rt: SessionRuntime, running: PendingExecution): Promise<void> {
    const kernel = rt.kernel;
    if (!kernel) return;
    rt.stopReason = 'interrupted';
    const deadline = Date.now() + INTERRUPT_RETRY_MS;
    let ended = false;
    void running.done.then(() => (ended = true));
    while (!ended && rt.running === running && Date.now() < deadline) {
      await kernel.interrupt();
      await Promise.race([running.done, new Promise((r) => setTimeout(r, INTERRUPT_REPEAT_MS))]);
    }
  }

  async execution(sessionId: string, executionId: string): Promise<ExecutionRecord> {
    const e = await this.repo.findExecution(executionId);
    if (!e || e.sessionId !== sessionId) {
      throw new RungateError(
        ErrorCode.NotFound,
        `no execution ${executionId} in session ${sessionId}`,
      );
    }
    return e;
  }

  /** Live events of a session; starts with its current state, completes when it ends. */
  async stream(sessionId: string): Promise<Observable<SessionEvent>> {
    const session = await this.mustFind(sessionId);
    const first: SessionEvent = { type: 'session.state', session: sessionId, state: session.state };
    const rt = this.runtimes.get(sessionId);
    if (!rt || isSessionOver(session.state)) return of(first);
    return concat(of(first), rt.events.asObservable());
  }

  // ---- internals ------------------------------------------------------------

  private recorded<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.audit.transaction(fn).catch(auditUnavailable);
  }

  private async resolveRunbook(id: string, version: string | undefined): Promise<Runbook> {
    const current = this.runbooks.get(id);
    if (version === undefined || version === current.version) return current;
    const pinned = await this.pinnedRunbook(id, version);
    if (pinned) return pinned;
    throw new RungateError(
      ErrorCode.NotFound,
      `version ${version} of runbook ${id} is not available; the current version is ${current.version}`,
      { currentVersion: current.version },
    );
  }

  /** A version seen by this process, or stored when a session pinned it. */
  private async pinnedRunbook(id: string, version: string): Promise<Runbook | undefined> {
    const known = this.runbooks.getVersion(id, version);
    if (known) return known;
    const stored = await this.repo.snapshot(id, version);
    if (stored === undefined) return undefined;
    const parsed = parseNotebook(id, stored, {
      path: `${id}.ipynb`,
      defaultKernel: this.config.kernels.defaultKernel,
    });
    return parsed.valid ? parsed : undefined;
  }

  /** The runtime of an open session; memory first, so the hot path reads no row. */
  private async liveRuntime(id: string): Promise<SessionRuntime> {
    const rt = this.runtimes.get(id);
    if (rt && !rt.ending) return rt;
    return this.openRuntime(id, await this.mustFind(id));
  }

  /** Runbook, environment and owner of a session, for policy decisions. */
  async resourceOf(id: string): Promise<{ runbook: string; environment: string; owner: string }> {
    const s = this.runtimes.get(id)?.session ?? (await this.mustFind(id));
    return { runbook: s.runbookId, environment: s.environment, owner: s.owner.sub };
  }

  private openRuntime(id: string, session: SessionRecord): SessionRuntime {
    if (isSessionOver(session.state)) {
      throw new RungateError(ErrorCode.SessionEnded, `session ${id} is ${session.state}`, {
        state: session.state,
        reason: session.endReason,
      });
    }
    const rt = this.runtimes.get(id);
    if (!rt) {
      throw new RungateError(
        ErrorCode.SessionEnded,
        `session ${id} is not held by this gateway (its kernel is gone)`,
      );
    }
    return rt;
  }

  private async enqueue(
    rt: SessionRuntime,
    principal: Principal,
    cells: RunbookCell[],
    batch: string | null,
    breakGlass?: BreakGlass,
  ): Promise<PendingExecution[]> {
    return rt.exclusive(async () => {
      if (rt.ending) throw new RungateError(ErrorCode.SessionEnded, `session ${rt.id} is ending`);
      // A kernel found dead is unbound at once, before its death is recorded: a request
      // in that moment must not queue for a kernel that never comes.
      const kernelGone =
        rt.session.state !== 'starting' && (!rt.kernel || rt.kernel.status === 'dead');
      if (rt.session.state === 'kernel_dead' || kernelGone) {
        throw new RungateError(
          ErrorCode.Conflict,
          `the kernel of session ${rt.id} died; attach a new one with POST /v1/sessions/${rt.id}/kernel`,
          { state: 'kernel_dead' },
        );
      }
      const limit = this.config.sessions.maxQueuedExecutions;
      if (rt.queue.length + cells.length > limit + (rt.running ? 0 : 1)) {
        throw new RungateError(
          ErrorCode.Busy,
          `session ${rt.id} already has ${rt.queue.length} execution(s) waiting (limit ${limit})`,
        );
      }
      const added: PendingExecution[] = [];
      for (const cell of cells) {
        // The execution row and its audit event (with the code) are committed before
        // the kernel can see the code: no record, no execution.
        let notify: (() => void) | undefined;
        const record = await this.recorded(async (tx) => {
          const r = await this.repo.insertExecution(
            {
              id: randomUUID(),
              sessionId: rt.id,
              cellId: cell.id,
              cellIndex: cell.index,
              cellSha256: cell.sha256,
              cellClass: cell.class ?? 'read-only',
              code: this.codeFor(rt, cell),
              requestedBy: { sub: principal.sub, name: principal.name },
            },
            tx,
          );
          // A mutating cell runs only under a usable approval (or break-glass), taken
          // in this transaction: two requests cannot both use one approval.
          let approval: ApprovalRecord | undefined;
          if (cell.class === 'mutating') {
            const used = await this.useApproval(tx, rt, principal, cell, r, breakGlass);
            approval = used.approval;
            notify = used.afterCommit;
          }
          await this.audit.executionRequested(tx, rt.session, r, approval);
          return r;
        });
        notify?.();
        const p = newPending(
          record,
          batch,
          cell.timeoutMs ?? this.config.sessions.cellTimeoutMs,
          { context: currentTraceContext(), traceparent: currentTraceparent() },
          cell.class === 'mutating',
        );
        rt.queue.push(p);
        added.push(p);
        rt.emit({
          type: 'execution.queued',
          session: rt.id,
          execution: record.id,
          cell: cell.id,
          seq: record.seq,
        });
      }
      // The kernel may have died while the rows were written: nothing waits for it then.
      if (!rt.kernel && rt.session.state !== 'starting') await this.cancelQueue(rt);
      void this.pump(rt);
      return added;
    });
  }

  /**
   * A session runs the version it pinned, but a change to production runs only as
   * the catalog has it now: if the curators changed (or removed) a mutating cell
   * since, its older code does not run, approved or not.
   */
  private assertCurrentCode(rt: SessionRuntime, cell: RunbookCell): void {
    const current = this.runbooks.list().find((r) => r.id === rt.runbook.id);
    const now = current?.valid ? current.cells.find((c) => c.id === cell.id) : undefined;
    if (now?.sha256 === cell.sha256) return;
    throw new RungateError(
      ErrorCode.ApprovalRequired,
      now
        ? `the code of cell "${cell.id}" changed in the catalog since this session started; ` +
            'start a new session on the current version and request an approval for it'
        : `cell "${cell.id}" is no longer in the catalog's runbook ${rt.runbook.id}`,
      {
        reason_code: 'code_changed',
        session: rt.id,
        cell: cell.id,
        cellSha256: cell.sha256,
        currentSha256: now?.sha256 ?? null,
        currentVersion: current?.valid ? current.version : null,
      },
    );
  }

  private assertMayRunMutating(principal: Principal, rt: SessionRuntime): void {
    const decision = this.policy.authorize(principal, 'cell:execute-mutating', {
      runbook: rt.session.runbookId,
      environment: rt.session.environment,
      owner: rt.session.owner.sub,
    });
    if (!decision.allowed) {
      throw new RungateError(ErrorCode.Forbidden, decision.reason, {
        action: 'cell:execute-mutating',
        rule: decision.rule,
      });
    }
  }

  private useApproval(
    tx: Queryable,
    rt: SessionRuntime,
    principal: Principal,
    cell: RunbookCell,
    execution: ExecutionRecord,
    breakGlass: BreakGlass | undefined,
  ) {
    const who = { sub: principal.sub, name: principal.name, groups: principal.groups };
    const common = {
      sessionId: rt.id,
      cellId: cell.id,
      cellSha256: cell.sha256,
      targets: rt.session.targets,
      environment: rt.session.environment,
      executionId: execution.id,
      principal: who,
    };
    if (breakGlass) {
      return this.approvals.breakGlass(tx, {
        ...common,
        runbook: { id: rt.session.runbookId, version: rt.session.runbookVersion },
        cellIndex: cell.index,
        code: execution.code,
        parameters: rt.session.parameters,
        sessionOwner: rt.session.owner.sub,
        reason: breakGlass.reason,
        ...(breakGlass.incident ? { incident: breakGlass.incident } : {}),
      });
    }
    return this.approvals.consume(tx, {
      ...common,
      parametersHash: parametersSha256(rt.session.parameters),
      inFlightExecutionIds: [rt.running, ...rt.queue].flatMap((p) => (p ? [p.record.id] : [])),
    });
  }

  /** The parameters cell runs the session's validated values, not the notebook's defaults. */
  private codeFor(rt: SessionRuntime, cell: RunbookCell): string {
    return cell.class === 'parameters'
      ? renderParametersCell(rt.session.parameters, rt.runbook.parameters ?? undefined)
      : cell.source;
  }

  private async pump(rt: SessionRuntime): Promise<void> {
    if (rt.running || rt.ending || !rt.kernel || rt.session.state !== 'idle') return;
    const next = rt.queue.shift();
    if (!next) return;
    rt.running = next;
    rt.stopReason = null;
    const kernel = rt.kernel;
    let recorder = new OutputRecorder(this.config.sessions.outputCapBytes, rt.redactor);
    let outcome: ExecutionOutcome;
    const startedAt = performance.now();
    try {
      await this.moveSession(rt, 'busy');
      await this.repo.markRunning(next.record.id);
      rt.emit({
        type: 'execution.started',
        session: rt.id,
        execution: next.record.id,
        cell: next.record.cellId,
      });
      const timeout = setTimeout(() => {
        this.log.warn(
          { session: rt.id, execution: next.record.id },
          'cell timed out; interrupting it',
        );
        void this.stopRunning(rt, next).catch(() => undefined);
      }, next.timeoutMs);
      let elevation: { revoke(): Promise<void> } | undefined;
      let result: ExecuteResult;
      try {
        if (next.elevate) {
          elevation = await this.elevate(rt, kernel, next);
          // The elevated secrets are hidden from this cell's outputs too.
          recorder = new OutputRecorder(this.config.sessions.outputCapBytes, rt.redactor);
        }
        result = await kernel.execute(next.record.code, {
          storeHistory: true,
          // Work the runbook does downstream can join the request's trace.
          metadata: next.trace.traceparent ? { traceparent: next.trace.traceparent } : {},
          onIopub: (msg) => {
            const ids = { session: rt.id, execution: next.record.id };
            for (const event of liveEvents(recorder.accept(msg), ids)) rt.emit(event);
          },
        });
      } finally {
        clearTimeout(timeout);
        await elevation?.revoke();
      }
      outcome = this.outcomeOf(rt, result, recorder);
    } catch (err) {
      this.log.error({ err, session: rt.id }, 'execution failed inside the gateway');
      // Our own errors carry a message fit for the caller; anything else stays in the log.
      const evalue =
        err instanceof RungateError
          ? err.message
          : 'the gateway could not run this cell; see its log';
      outcome = {
        state: 'error',
        executionCount: null,
        error: { ename: 'GatewayError', evalue, traceback: [] },
        outputs: recorder.outputs,
        outputBytes: recorder.size,
        truncated: recorder.truncated,
      };
    }
    await this.finish(rt, next, outcome, performance.now() - startedAt);
  }

  /**
   * Just-in-time elevation for one approved cell: credentials that exist for this
   * cell only, overlaid on the kernel's read-only ones, then revoked and replaced by
   * the read-only values again however the cell ends.
   */
  private async elevate(rt: SessionRuntime, kernel: Kernel, p: PendingExecution) {
    const grants: SessionCredentials[] = [];
    // Connections the cell opens from here on may carry the elevated credentials.
    const mark = kernel.connectionMark();
    const revokeAll = async () => {
      kernel.closeConnections(mark);
      for (const g of grants) {
        let error: unknown;
        await g.release().catch((err: unknown) => {
          error = err;
          this.log.error({ err, session: rt.id }, 'elevated credential release failed');
        });
        await this.audit.credentialsRevoked(rt.session, g, error, p.record);
      }
    };
    try {
      for (const target of rt.session.targets) {
        const g = await this.targets.issueElevatedCredentials(
          target,
          {
            sessionId: rt.id,
            executionId: p.record.id,
            validForMs: p.timeoutMs + ELEVATION_GRACE_MS,
          },
          rt.routes.route,
        );
        grants.push(g);
        rt.redactor = rt.redactor.with(g.secrets);
        await this.audit.credentialsIssued(rt.session, g, p.record);
      }
      const env = Object.assign({}, ...grants.map((g) => g.env)) as Record<string, string>;
      const set = await kernel.execute(preludeCode(env), { silent: true, storeHistory: false });
      if (set.status !== 'ok')
        throw new Error(`the kernel refused the elevated credentials (${set.status})`);
    } catch (err) {
      await revokeAll();
      throw err;
    }
    return {
      revoke: async () => {
        // Read-only values back first (the same variable names), then the grants go.
        if (kernel.status !== 'dead') {
          await kernel
            .execute(preludeCode({ ...rt.credentials.env }), { silent: true, storeHistory: false })
            .catch(() => undefined);
        }
        await revokeAll();
      },
    };
  }

  private outcomeOf(
    rt: SessionRuntime,
    result: ExecuteResult,
    rec: OutputRecorder,
  ): ExecutionOutcome {
    const base = { outputs: rec.outputs, outputBytes: rec.size, truncated: rec.truncated };
    switch (result.status) {
      case 'ok':
        return { ...base, state: 'ok', executionCount: result.executionCount, error: null };
      case 'error': {
        const error = rt.redactor.value({
          ename: result.ename,
          evalue: result.evalue,
          traceback: result.traceback,
        });
        const stopped = rt.stopReason === 'interrupted' && result.ename === 'KeyboardInterrupt';
        return {
          ...base,
          state: stopped ? 'interrupted' : 'error',
          executionCount: result.executionCount,
          error,
        };
      }
      case 'aborted':
        return { ...base, state: 'cancelled', executionCount: null, error: null };
      case 'kernel_died':
        return {
          ...base,
          state: rt.ending ? 'interrupted' : 'kernel_died',
          executionCount: null,
          error: {
            ename: 'KernelDied',
            evalue: result.reason,
            traceback: [],
            ...(result.limit ? { reason: result.limit } : {}),
          },
        };
      default: {
        const never: never = result;
        throw new Error(`unknown execute result ${JSON.stringify(never)}`);
      }
    }
  }

  private async finish(
    rt: SessionRuntime,
    p: PendingExecution,
    outcome: ExecutionOutcome,
    durationMs: number,
  ): Promise<void> {
    let finished: ExecutionRecord | undefined;
    // The cell has run: its end must be recorded, so a passing database fault is retried.
    for (let attempt = 1; attempt <= FINISH_ATTEMPTS && !finished; attempt++) {
      try {
        finished = await this.audit.transaction(async (tx) => {
          const row = await this.repo.finishExecution(p.record.id, outcome, tx);
          if (row)
            await this.audit.executionCompleted(
              tx,
              rt.session,
              row,
              outcome,
              durationMs,
              p.trace.context,
            );
          return row ?? p.record;
        });
      } catch (err) {
        this.log.error(
          { err, session: rt.id, execution: p.record.id, attempt },
          'could not record the end of an execution',
        );
        if (attempt < FINISH_ATTEMPTS) await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
    rt.session.lastActivityAt = new Date();
    rt.running = null;
    rt.stopReason = null;
    rt.emit({
      type: 'execution.finished',
      session: rt.id,
      execution: p.record.id,
      cell: p.record.cellId,
      status: outcome.state,
      truncated: outcome.truncated,
      ...(outcome.error?.reason ? { reason: outcome.error.reason } : {}),
    });
    executionsTotal.inc({ status: outcome.state });
    executionSeconds.observe(durationMs / 1000);
    if (outcome.state !== 'ok' && p.batch) {
      await this.cancelQueue(rt, (q) => q.batch === p.batch);
    }
    if (rt.session.state === 'busy' && !rt.ending) await this.moveSession(rt, 'idle');
    p.resolve(finished ?? p.record);
    void this.pump(rt);
  }

  private async cancelQueue(
    rt: SessionRuntime,
    which: (p: PendingExecution) => boolean = () => true,
  ): Promise<string[]> {
    const dropped = rt.queue.filter(which);
    if (dropped.length === 0) return [];
    rt.queue.splice(0, rt.queue.length, ...rt.queue.filter((p) => !which(p)));
    const ids = dropped.map((p) => p.record.id);
    await this.repo.cancelQueued(rt.id, ids).catch((err: unknown) => {
      this.log.error({ err, session: rt.id }, 'could not record cancelled executions');
    });
    for (const p of dropped) {
      rt.emit({
        type: 'execution.finished',
        session: rt.id,
        execution: p.record.id,
        cell: p.record.cellId,
        status: 'cancelled',
        truncated: false,
      });
      p.resolve((await this.repo.findExecution(p.record.id).catch(() => undefined)) ?? p.record);
    }
    return ids;
  }

  private async attachKernel(rt: SessionRuntime, principal: Principal): Promise<void> {
    if (rt.session.state !== 'starting') await this.moveSession(rt, 'starting');
    const kernel = await this.kernels.acquire(rt.runbook.kernel);
    rt.bindKernel(kernel, (reason, limit) => void this.onKernelDied(rt, kernel.id, reason, limit));
    // The session's targets become reachable (in a sandbox, through forwarders that
    // relays in the kernel listen for); credentials and session identity reach the
    // kernel as environment variables, set by a silent cell: pooled kernels were
    // started before the session existed.
    const relays = await kernel.forward(rt.routes);
    const env = {
      ...rt.credentials.env,
      RUNGATE_SESSION_ID: rt.id,
      RUNGATE_RUNBOOK: rt.runbook.id,
    };
    const prelude = await kernel.execute(`${relayCode(relays)}${preludeCode(env)}\n${TRACE_HOOK}`, {
      silent: true,
      storeHistory: false,
    });
    if (prelude.status !== 'ok') {
      rt.unbindKernel();
      await kernel.shutdown().catch(() => undefined);
      throw new RungateError(ErrorCode.KernelUnavailable, 'the kernel refused the session set-up');
    }
    await this.moveSession(rt, 'idle', {
      kernel: { id: kernel.id, pid: kernel.pid, name: kernel.kernelName },
    });
    await this.audit.kernelStarted(rt.session, {
      id: kernel.id,
      name: kernel.kernelName,
      pid: kernel.pid,
    });
    const parametersCell = rt.runbook.cells.find((c) => c.class === 'parameters');
    // The session's values are in place before anyone runs a cell that reads them.
    if (parametersCell) await (await this.enqueue(rt, principal, [parametersCell], null))[0].done;
  }

  private async onKernelDied(
    rt: SessionRuntime,
    kernelId: string,
    reason: string,
    limit?: KernelLimit,
  ): Promise<void> {
    if (rt.kernel?.id !== kernelId || rt.ending) return;
    this.log.warn({ session: rt.id, reason }, 'session kernel died');
    const dead = rt.unbindKernel();
    if (dead)
      await this.audit.kernelDied(
        rt.session,
        { id: dead.id, name: dead.kernelName, pid: dead.pid },
        limit ?? reason,
      );
    await this.cancelQueue(rt);
    await this.moveSession(rt, 'kernel_dead', { reason }).catch((err: unknown) => {
      this.log.error({ err, session: rt.id }, 'could not record kernel death');
    });
  }

  private async moveSession(
    rt: SessionRuntime,
    to: SessionState,
    extra: { kernel?: SessionRecord['kernel']; reason?: string } = {},
  ): Promise<void> {
    const from = rt.session.state;
    assertSessionMove(from, to);
    const over = isSessionOver(to);
    // A cell starting and ending is recorded by its execution row; the session row
    // keeps the states that outlive a request (starting, idle, kernel_dead, ended).
    const transient = to === 'busy' || (from === 'busy' && to === 'idle');
    if (!transient) {
      await this.repo.setSessionState(rt.id, to, {
        kernel: extra.kernel,
        endReason: over ? extra.reason : undefined,
      });
    }
    rt.session = { ...rt.session, state: to, ...(extra.kernel ? { kernel: extra.kernel } : {}) };
    rt.emit({
      type: 'session.state',
      session: rt.id,
      state: to,
      ...(extra.reason ? { reason: extra.reason } : {}),
    });
  }

  private async endRuntime(rt: SessionRuntime, reason: string): Promise<void> {
    if (rt.ending) return;
    rt.ending = true;
    await this.cancelQueue(rt);
    const kernel = rt.unbindKernel();
    if (kernel)
      await kernel
        .shutdown()
        .catch((err: unknown) => this.log.warn({ err }, 'kernel shutdown failed'));
    // The running execute resolves once its kernel is gone; let it record itself.
    await rt.running?.done;
    let releaseError: unknown;
    await rt.credentials.release().catch((err: unknown) => {
      releaseError = err;
      this.log.error({ err }, 'credential release failed');
    });
    await this.audit.credentialsRevoked(rt.session, rt.credentials, releaseError);
    try {
      assertSessionMove(rt.session.state, 'ended');
      const cancelled = await this.audit.transaction(async (tx) => {
        await this.repo.setSessionState(rt.id, 'ended', { endReason: reason }, tx);
        const open = await this.approvals.cancelForSession(
          tx,
          rt.id,
          `the session ended: ${reason}`,
        );
        await this.audit.sessionEnded(tx, rt.session, reason);
        return open;
      });
      cancelled.afterCommit();
      rt.session = { ...rt.session, state: 'ended', endReason: reason };
      rt.emit({ type: 'session.state', session: rt.id, state: 'ended', reason });
    } finally {
      this.runtimes.delete(rt.id);
      rt.events.complete();
    }
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const rt of this.runtimes.values()) {
      if (rt.ending) continue;
      if (now >= rt.session.expiresAt.getTime()) {
        await this.endRuntime(rt, 'the session reached its maximum lifetime').catch(
          () => undefined,
        );
      } else if (
        !rt.running &&
        rt.queue.length === 0 &&
        now - rt.session.lastActivityAt.getTime() >= this.config.sessions.idleTimeoutMs
      ) {
        await this.endRuntime(rt, 'the session was idle too long').catch(() => undefined);
      }
    }
  }

  private async mustFind(id: string): Promise<SessionRecord> {
    const s = await this.repo.findSession(id);
    if (!s) throw new RungateError(ErrorCode.NotFound, `no session ${id}`);
    return s;
  }

  private async view(id: string): Promise<SessionView> {
    const stored = await this.mustFind(id);
    const rt = this.runtimes.get(id);
    const session = rt ? { ...stored, state: rt.session.state } : stored;
    const runbook =
      rt?.runbook ?? (await this.pinnedRunbook(session.runbookId, session.runbookVersion));
    if (!runbook) {
      throw new RungateError(
        ErrorCode.Unavailable,
        `the runbook snapshot of session ${id} is unreadable`,
      );
    }
    return { session, runbook, executions: await this.repo.listExecutions(id) };
  }
}

/**
 * Runs `fn` in a transaction whose audit events the relay publishes. If the audit
 * trail cannot be written the command fails with 503: nothing runs unrecorded.
 */
function auditUnavailable(err: unknown): never {
  if (err instanceof RungateError) throw err;
  throw new RungateError(
    ErrorCode.Unavailable,
    'the audit trail could not be written, so nothing was run; try again shortly',
    {},
    { cause: err },
  );
}

function rejectParameters(values: Record<string, unknown> | undefined): Record<string, unknown> {
  if (values && Object.keys(values).length > 0) {
    throw new RungateError(ErrorCode.InvalidRequest, 'this runbook takes no parameters', {
      errors: Object.keys(values).map((name) => ({
        parameter: name,
        message: 'unknown parameter',
      })),
    });
  }
  return {};
}

/**
 * Python run once per kernel: before each cell, TRACEPARENT in the environment is
 * the trace context the gateway sent with that cell's execute_request, so work the
 * runbook does downstream (HTTP calls, SQL comments) can join the command's trace.
 */
const TRACE_HOOK = [
  'def __rg_traceparent(*_):',
  '    import os',
  '    try:',
  '        tp = (get_ipython().kernel.get_parent().get("metadata") or {}).get("traceparent")',
  '    except Exception:',
  '        tp = None',
  '    if tp:',
  '        os.environ["TRACEPARENT"] = tp',
  '    else:',
  '        os.environ.pop("TRACEPARENT", None)',
  'get_ipython().events.register("pre_run_cell", __rg_traceparent)',
].join('\n');

/**
 * Python that starts the kernel's side of target forwarding (kernels/python/rungate/_forward.py):
 * a listener per route on the loopback address its target's name resolves to in the sandbox.
 */
export function relayCode(relays: readonly Relay[]): string {
  if (relays.length === 0) return '';
  const literal = JSON.stringify(
    JSON.stringify(
      relays.map((r) => ({ listen: [r.listen.host, r.listen.port], socket: r.socket })),
    ),
  );
  return [
    'import json as __rg_json, rungate._forward as __rg_forward',
    `__rg_forward.serve(__rg_json.loads(${literal}))`,
    'del __rg_json, __rg_forward',
    '',
  ].join('\n');
}

/** Python that sets environment variables from JSON, with no value ever spliced into code. */
export function preludeCode(env: Record<string, string>): string {
  const literal = JSON.stringify(JSON.stringify(env));
  return [
    'import os as __rg_os, json as __rg_json',
    `__rg_os.environ.update(__rg_json.loads(${literal}))`,
    'del __rg_os, __rg_json',
  ].join('\n');
}
