/**
 * The life of a session in this gateway process: admitted within the open-session
 * limits, started on a pinned runbook version with read-only credentials and a
 * kernel, given a new kernel after a death, and ended (on request, when idle too
 * long, at its maximum lifetime, at shutdown) with its kernel, credentials and open
 * approvals gone. Sessions of a gateway instance that is gone (this process's previous
 * incarnation, or another replica that died) are marked lost, at start-up and by the
 * survivors within the staleness bound.
 */
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { ApprovalsService } from '../approvals';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { Redactor } from '../common/redact';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { GatewayInstance } from '../db/gateway-instance';
import { KernelsService } from '../kernels/kernels.service';
import type { Kernel, KernelLimit } from '../kernels/kernels.types';
import { validateParameters } from '../runbooks';
import { TargetsService } from '../targets/targets.service';
import { CellRunner } from './cell-runner';
import { ExecutionQueue } from './execution-queue';
import { assertAccepting, auditUnavailable, ExecutionRequests } from './execution-requests';
import { KernelBinding } from './kernel-binding';
import { RunbookVersions } from './runbook-versions';
import { SessionAdmission } from './session-admission';
import { SessionAudit } from './session-audit';
import { SessionRuntime, type PendingExecution } from './session-runtime';
import {
  assertSessionMove,
  ExecutionTransitions,
  isSessionOver,
  sessionStatesTo,
  SessionTransitions,
} from './session-state';
import { SessionsRepository } from './sessions.repository';
import type { ExecutionRecord, SessionRecord } from './sessions.types';

export interface StartSessionInput {
  runbook: string;
  version?: string;
  parameters?: Record<string, unknown>;
  reason: string;
  incident?: string;
}

/** How often idle and lifetime limits are checked. */
const SWEEP_INTERVAL_MS = 1000;

@Injectable()
export class SessionLifecycle implements OnModuleInit, BeforeApplicationShutdown {
  private readonly log = new Logger(SessionLifecycle.name);
  private readonly runtimes = new Map<string, SessionRuntime>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly repo: SessionsRepository,
    private readonly kernels: KernelsService,
    private readonly targets: TargetsService,
    private readonly audit: SessionAudit,
    private readonly approvals: ApprovalsService,
    private readonly binding: KernelBinding,
    private readonly runner: CellRunner,
    private readonly requests: ExecutionRequests,
    private readonly transitions: SessionTransitions,
    private readonly executions: ExecutionTransitions,
    private readonly admission: SessionAdmission,
    private readonly versions: RunbookVersions,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
  ) {}

  async onModuleInit(): Promise<void> {
    // Instances that died (this process's previous incarnation among them) are marked
    // stopped first: only their sessions are lost; other replicas' stay as they are.
    await this.instance.reapGone();
    await this.takeOverGone();
    this.unsubscribe.push(
      this.instance.onGone(() => this.takeOverGone()),
      this.instance.onFenced(() => this.dropFenced()),
    );
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  /**
   * What a gateway instance that is gone held: its open sessions are marked lost (their
   * running execution abandoned, queued ones cancelled, `session.ended`), and the
   * credentials minted for sessions that are over are revoked on the targets. Runs at
   * start-up and after each heartbeat that found an instance gone, on every replica;
   * each session is marked lost once.
   */
  async takeOverGone(): Promise<void> {
    const reason =
      'the gateway replica holding the session kernel died or restarted: the kernel is gone';
    let left = 0;
    const lost = await this.repo.transaction(async (tx) => {
      const sessions = await this.repo.markOrphanedSessionsLost(
        tx,
        reason,
        sessionStatesTo('lost'),
      );
      if (sessions.length === 0) return sessions;
      const abandoned = await this.executions.abandon(
        tx,
        sessions.map((s) => s.id),
      );
      left = abandoned.length;
      for (const s of sessions) {
        // In chain order: what became of its cell, then the session's end.
        for (const a of abandoned.filter((x) => x.execution.sessionId === s.id)) {
          await this.audit.executionAbandoned(tx, s, a);
        }
        await this.audit.sessionEnded(tx, s, reason, true);
      }
      return sessions;
    });
    if (lost.length > 0) {
      this.log.warn(
        { sessions: lost.map((s) => s.id) },
        `marked ${lost.length} session(s) lost and ${left} execution(s) abandoned`,
      );
    }
    // Credentials minted for sessions that are over (a crash left them) are revoked now;
    // those of open sessions, on this replica or another, stay.
    const swept = await this.targets.sweepOrphans(async (id) => this.repo.mayHoldCredentials(id));
    if (swept.dropped.length > 0 || swept.failed.length > 0) {
      this.log.warn(swept, 'swept credentials left by sessions that are over');
    }
  }

  /**
   * The other replicas presumed this one dead (it was silent past the staleness bound)
   * and marked its sessions lost: their kernels and credentials are dropped here too,
   * without recording anything more (their end is recorded already).
   */
  private async dropFenced(): Promise<void> {
    const held = [...this.runtimes.values()];
    if (held.length === 0) return;
    this.log.error(
      { sessions: held.map((rt) => rt.id) },
      'the other replicas presumed this one dead and took its sessions over; dropping them',
    );
    await Promise.allSettled(
      held.map(async (rt) => {
        rt.ending = true;
        this.runtimes.delete(rt.id);
        await rt.executions.cancel();
        await this.binding.release(rt.unbindKernel());
        await rt.credentials.release();
        rt.emit({
          type: 'session.state',
          session: rt.id,
          state: 'lost',
          reason: 'the session was taken over by another gateway replica',
        });
        rt.events.complete();
      }),
    );
  }

  /**
   * Before kernels and the database go away (SIGTERM, SIGINT): new commands are refused
   * (503) from now on, queued cells are dropped, running ones may finish within the
   * shutdown grace period and are interrupted past it; then each open session ends
   * (kernel shut down, credentials revoked, `session.ended`). The audit relay publishes
   * what all this recorded afterwards (its hooks run after this module's).
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    for (const u of this.unsubscribe.splice(0)) u();
    this.instance.drain();
    const held = [...this.runtimes.values()];
    await this.drain(held, this.config.sessions.shutdownGraceMs);
    // Whatever still waits for the database (an execution's end during an outage) gives up.
    this.instance.stopRetrying();
    // Every session held now: one whose start was under way when the drain began too.
    await Promise.allSettled(
      [...this.runtimes.values()].map((rt) => this.end(rt, 'the gateway shut down')),
    );
  }

  /** Lets running cells finish for up to `graceMs`, then interrupts those still running. */
  private async drain(held: readonly SessionRuntime[], graceMs: number): Promise<void> {
    await Promise.allSettled(held.map((rt) => rt.executions.cancel()));
    const running = held.flatMap((rt) => {
      const p = rt.executions.running;
      return p ? [{ rt, p }] : [];
    });
    if (running.length === 0) return;
    this.log.warn(
      `shutting down: waiting up to ${graceMs} ms for ${running.length} running cell(s)`,
    );
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    try {
      await Promise.all(
        running.map(async ({ rt, p }) => {
          if ((await Promise.race([p.done, graceOver])) !== 'late') return;
          this.log.warn(
            { session: rt.id, execution: p.record.id },
            'shutting down: the shutdown grace period is over; interrupting the cell',
          );
          await rt.executions.interrupt();
        }),
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** The runtime of an open session held here, if any. */
  held(id: string): SessionRuntime | undefined {
    return this.runtimes.get(id);
  }

  /** The runtime of an open session; refuses one that is over or not held here. */
  live(id: string, stored: SessionRecord | undefined): SessionRuntime {
    const rt = this.runtimes.get(id);
    if (rt && !rt.ending) return rt;
    if (stored && isSessionOver(stored.state)) {
      throw new RungateError(ErrorCode.SessionEnded, `session ${id} is ${stored.state}`, {
        state: stored.state,
        reason: stored.endReason,
      });
    }
    throw new RungateError(
      ErrorCode.SessionEnded,
      `session ${id} is not held by this gateway (its kernel is gone)`,
    );
  }

  // ---- start --------------------------------------------------------------------

  async start(principal: Principal, input: StartSessionInput): Promise<SessionRuntime> {
    assertAccepting(this.instance);
    this.admission.assertRoomFor(principal, this.runtimes.values());
    const runbook = await this.versions.resolve(input.runbook, input.version);
    const parameters = runbook.parameters
      ? validateParameters(runbook, input.parameters ?? {})
      : rejectParameters(input.parameters);
    const environment = this.admission.environmentOf(runbook);
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
      session = await this.repo
        .transaction(async (tx) => {
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
              // The gateway_instances row: whose kernel it is, if this process goes away.
              instanceId: this.instance.id,
              expiresAt,
            },
            tx,
          );
          await this.audit.sessionStarted(tx, created, credentials, (v) => redactor.value(v));
          return created;
        })
        .catch(auditUnavailable);
    } catch (err) {
      await credentials.release().catch(() => undefined);
      throw err;
    }
    const rt = new SessionRuntime(session, runbook, credentials, routes, redactor);
    rt.executions = new ExecutionQueue(this.config.sessions.maxQueuedExecutions, {
      ready: () => rt.kernel !== null && rt.session.state === 'idle' && !rt.ending,
      run: (p, stopping) => {
        const kernel = rt.kernel;
        if (!kernel) return this.cancelledRun(rt, p);
        return this.runner.run(rt, kernel, p, stopping);
      },
      interrupt: async () => rt.kernel?.interrupt(),
      cancelled: (dropped) => this.recordCancelled(rt, dropped),
      timedOut: (p) =>
        this.log.warn(
          { session: rt.id, execution: p.record.id },
          'cell timed out; interrupting it',
        ),
    });
    this.runtimes.set(id, rt);
    try {
      await this.attachKernel(rt, principal);
    } catch (err) {
      await this.end(rt, `no kernel could be started: ${(err as Error).message}`);
      throw err;
    }
    return rt;
  }

  /** Attaches a fresh kernel to a session whose kernel died (or replaces a live one). */
  async replaceKernel(principal: Principal, rt: SessionRuntime): Promise<void> {
    assertAccepting(this.instance);
    if (!rt.executions.idle) {
      throw new RungateError(ErrorCode.Busy, 'the session is running a cell; interrupt it first');
    }
    void this.binding.release(rt.unbindKernel());
    await this.attachKernel(rt, principal);
  }

  private async attachKernel(rt: SessionRuntime, principal: Principal): Promise<void> {
    if (rt.session.state !== 'starting') await this.transitions.apply(rt, 'starting');
    const kernel = await this.binding.acquire(rt);
    rt.bindKernel(kernel, (reason, limit) => void this.onKernelDied(rt, kernel, reason, limit));
    await this.transitions.apply(rt, 'idle', {
      kernel: { id: kernel.id, pid: kernel.pid, name: kernel.kernelName },
    });
    await this.audit.kernelStarted(rt.session, {
      id: kernel.id,
      name: kernel.kernelName,
      pid: kernel.pid,
    });
    const parametersCell = rt.runbook.cells.find((c) => c.class === 'parameters');
    // The session's values are in place before anyone runs a cell that reads them.
    if (parametersCell) {
      const [p] = await this.requests.enqueue(rt, principal, [parametersCell], null);
      await p.done;
    }
  }

  private async onKernelDied(
    rt: SessionRuntime,
    kernel: Kernel,
    reason: string,
    limit?: KernelLimit,
  ): Promise<void> {
    if (rt.kernel !== kernel || rt.ending) return;
    this.log.warn({ session: rt.id, reason }, 'session kernel died');
    const running = rt.executions.running;
    rt.unbindKernel();
    await this.audit.kernelDied(
      rt.session,
      { id: kernel.id, name: kernel.kernelName, pid: kernel.pid },
      limit ?? reason,
    );
    await rt.executions.cancel();
    // The cell that was running ends with the kernel (kernel_died); its recorded end
    // takes the session out of `busy`, and the death moves it from there.
    await running?.done;
    // Unless the session ends, or a new kernel is being attached, meanwhile.
    if (rt.ending || rt.kernel !== null || rt.session.state === 'starting') return;
    await this.transitions.apply(rt, 'kernel_dead', { reason }).catch((err: unknown) => {
      this.log.error({ err, session: rt.id }, 'could not record kernel death');
    });
  }

  // ---- end ----------------------------------------------------------------------

  /** Ends a session held here: queue dropped, kernel shut down, credentials revoked, approvals cancelled. */
  async end(rt: SessionRuntime, reason: string): Promise<void> {
    if (rt.ending) return;
    rt.ending = true;
    await rt.executions.cancel();
    const running = rt.executions.running;
    await this.binding.release(rt.unbindKernel());
    // The running execute resolves once its kernel is gone; let it record itself.
    await running?.done;
    let releaseError: unknown;
    await rt.credentials.release().catch((err: unknown) => {
      releaseError = err;
      this.log.error({ err }, 'credential release failed');
    });
    await this.audit.credentialsRevoked(rt.session, rt.credentials, releaseError);
    try {
      assertSessionMove(rt.session.state, 'ended');
      await this.repo.transaction(async (tx) => {
        // From whatever it is stored as (`busy` too, if a cell's end was not recorded).
        await this.repo.setSessionState(
          rt.id,
          'ended',
          sessionStatesTo('ended'),
          { endReason: reason },
          tx,
        );
        // A request whose commit answered with an error (the connection broke during
        // COMMIT) may have left a row this process never queued: it never ran.
        await this.executions.cancel(rt.id, undefined, tx);
        await this.approvals.cancelForSession(tx, rt.id, `the session ended: ${reason}`);
        await this.audit.sessionEnded(tx, rt.session, reason);
      });
      rt.session = { ...rt.session, state: 'ended', endReason: reason };
      rt.emit({ type: 'session.state', session: rt.id, state: 'ended', reason });
    } finally {
      this.runtimes.delete(rt.id);
      rt.events.complete();
    }
  }

  /** Closes the record of a session open in the database but not held here (its kernel is gone). */
  async endStored(s: SessionRecord, reason: string): Promise<void> {
    if (isSessionOver(s.state)) return;
    const owner = await this.repo.ownerOf(s.id);
    if (owner && owner.running && owner.instanceId !== this.instance.id) {
      // Its kernel may still run there (a replica this one cannot reach is not dead).
      throw new RungateError(
        ErrorCode.Conflict,
        `session ${s.id} is held by another gateway replica that cannot be reached now; it is marked lost once that replica is presumed dead`,
      );
    }
    await this.repo
      .transaction(async (tx) => {
        await this.repo.setSessionState(
          s.id,
          'ended',
          sessionStatesTo('ended'),
          { endReason: reason },
          tx,
        );
        await this.audit.sessionEnded(tx, s, reason);
      })
      .catch(auditUnavailable);
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    for (const rt of this.runtimes.values()) {
      if (rt.ending) continue;
      if (now >= rt.session.expiresAt.getTime()) {
        await this.end(rt, 'the session reached its maximum lifetime').catch(() => undefined);
      } else if (
        rt.executions.idle &&
        now - rt.session.lastActivityAt.getTime() >= this.config.sessions.idleTimeoutMs
      ) {
        await this.end(rt, 'the session was idle too long').catch(() => undefined);
      }
    }
  }

  // ---- executions that never ran -------------------------------------------------

  private async recordCancelled(
    rt: SessionRuntime,
    dropped: readonly PendingExecution[],
  ): Promise<ExecutionRecord[]> {
    const ids = dropped.map((p) => p.record.id);
    await this.executions.cancel(rt.id, ids).catch((err: unknown) => {
      this.log.error({ err, session: rt.id }, 'could not record cancelled executions');
    });
    const records: ExecutionRecord[] = [];
    for (const p of dropped) {
      rt.emit({
        type: 'execution.finished',
        session: rt.id,
        execution: p.record.id,
        cell: p.record.cellId,
        status: 'cancelled',
        truncated: false,
      });
      records.push((await this.repo.findExecution(p.record.id).catch(() => undefined)) ?? p.record);
    }
    return records;
  }

  /** The kernel went away between queueing and running: the execution never ran. */
  private async cancelledRun(rt: SessionRuntime, p: PendingExecution) {
    const [record] = await this.recordCancelled(rt, [p]);
    return { record, status: 'cancelled' as const };
  }
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
