/**
 * The single gate of a cell that changes production, after the policy guard decided
 * the request's one action on it (CellResourceResolver: `cell:execute-mutating`, or
 * `breakglass`): the decision being that one, the code still being what the catalog
 * has, a usable approval (or a break-glass run) and the ordered state of the kernel.
 * Approvals is the ledger; this gate hands it complete values and the decision.
 */
import { Injectable } from '@nestjs/common';
import { ApprovalsService, parametersSha256, type ApprovalRecord } from '../approvals';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import type { Queryable } from '../db/database';
import { assertDecided } from '../policy/decided';
import type { Decision } from '../policy/policy.types';
import { cellsToRunFirst, runsOnKernel } from '../runbooks/ordered-state';
import { RunbooksService } from '../runbooks/runbooks.service';
import type { RunbookCell } from '../runbooks/runbooks.types';
import type { SessionRuntime } from './session-runtime';
import { SessionsRepository } from './sessions.repository';
import type { ExecutionRecord } from './sessions.types';

/** A break-glass run: a mutating cell without approvers, reviewed after the fact. */
export interface BreakGlass {
  reason: string;
  incident?: string;
}

/**
 * A mutating cell past the checks made before anything is written: the guard's
 * decision for it (checked to be the right one) and, when breaking glass, why.
 */
export interface GatePass {
  readonly decision: Decision;
  readonly breakGlass?: BreakGlass;
}

@Injectable()
export class MutatingGate {
  constructor(
    private readonly runbooks: RunbooksService,
    private readonly approvals: ApprovalsService,
    private readonly repo: SessionsRepository,
  ) {}

  /**
   * Before anything is written: only the catalog's current code of the cell runs, and
   * the guard decided this request's action on it (`breakglass` when breaking glass,
   * else `cell:execute-mutating`) and allowed it. Nothing is decided again here.
   */
  precheck(
    rt: SessionRuntime,
    principal: Principal,
    cell: RunbookCell,
    decision: Decision | undefined,
    breakGlass: BreakGlass | undefined,
  ): GatePass {
    this.assertCurrentCode(rt, cell);
    const action = breakGlass ? 'breakglass' : 'cell:execute-mutating';
    const resource = {
      runbook: rt.session.runbookId,
      environment: rt.session.environment,
      owner: rt.session.owner.sub,
    };
    return {
      decision: assertDecided(decision, action, resource, principal.sub),
      ...(breakGlass ? { breakGlass } : {}),
    };
  }

  /**
   * In the transaction that records the execution: the approval is used (or the
   * break-glass run recorded), then the ordered state is checked, so a cell out of
   * order rolls back with its approval unused. Answers the approval it runs under.
   */
  async admit(
    tx: Queryable,
    rt: SessionRuntime,
    principal: Principal,
    cell: RunbookCell,
    execution: ExecutionRecord,
    pass: GatePass,
  ): Promise<ApprovalRecord> {
    const { approval } = await this.useApproval(tx, rt, principal, cell, execution, pass);
    await this.assertInOrder(rt, cell, tx);
    return approval;
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

  /**
   * A change of production runs on the kernel state its runbook expects: every code
   * cell above it has run, in order and successfully, on the current kernel.
   */
  private async assertInOrder(rt: SessionRuntime, cell: RunbookCell, tx: Queryable) {
    const runs = runsOnKernel(await this.repo.listExecutions(rt.id, tx), rt.kernel?.id);
    const first = cellsToRunFirst(rt.runbook.cells, cell.id, runs);
    if (first.length === 0) return;
    throw new RungateError(
      ErrorCode.OutOfOrder,
      `cell "${cell.id}" changes production, so every code cell above it must first run, in ` +
        `order and successfully, on this session's kernel: run ${first.join(', ')} first`,
      { session: rt.id, cell: cell.id, runFirst: first },
    );
  }

  private useApproval(
    tx: Queryable,
    rt: SessionRuntime,
    principal: Principal,
    cell: RunbookCell,
    execution: ExecutionRecord,
    { decision, breakGlass }: GatePass,
  ): Promise<{ approval: ApprovalRecord }> {
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
        decision,
        reason: breakGlass.reason,
        ...(breakGlass.incident ? { incident: breakGlass.incident } : {}),
      });
    }
    return this.approvals.consume(tx, {
      ...common,
      parametersHash: parametersSha256(rt.session.parameters),
      inFlightExecutionIds: rt.executions.ids(),
    });
  }
}
