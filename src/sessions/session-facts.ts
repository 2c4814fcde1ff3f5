import { Inject, Injectable } from '@nestjs/common';
import type { ApprovalSessionFacts, PriorCellRun, SessionFacts } from '../approvals';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { parseNotebook } from '../runbooks';
import { cellsToRunFirst, runsOnKernel } from '../runbooks/ordered-state';
import { isSessionOver } from './session-state';
import { SessionsRepository } from './sessions.repository';

/** What approvals may know of a session: read from the stored session and its pinned runbook. */
@Injectable()
export class SessionFactsAdapter implements ApprovalSessionFacts {
  constructor(
    private readonly repo: SessionsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async sessionFacts(sessionId: string): Promise<SessionFacts | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(sessionId)) return undefined;
    const s = await this.repo.findSession(sessionId);
    if (!s) return undefined;
    const content = await this.repo.snapshot(s.runbookId, s.runbookVersion);
    if (content === undefined) return undefined;
    const runbook = parseNotebook(s.runbookId, content, {
      defaultKernel: this.config.kernels.defaultKernel,
    });
    if (!runbook.valid) return undefined;
    return {
      id: s.id,
      owner: s.owner,
      open: !isSessionOver(s.state),
      runbook: { id: s.runbookId, version: s.runbookVersion },
      environment: s.environment,
      targets: s.targets,
      parameters: s.parameters,
      cells: runbook.cells.map((c) => ({
        id: c.id,
        index: c.index,
        type: c.type,
        class: c.class,
        source: c.source,
        sha256: c.sha256,
      })),
    };
  }

  async runFirst(sessionId: string, cellId: string): Promise<readonly string[] | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(sessionId)) return undefined;
    const [facts, s, executions] = await Promise.all([
      this.sessionFacts(sessionId),
      this.repo.findSession(sessionId),
      this.repo.listExecutions(sessionId),
    ]);
    if (!facts || !s) return undefined;
    return cellsToRunFirst(facts.cells, cellId, runsOnKernel(executions, s.kernel?.id));
  }

  async priorOutputs(sessionId: string): Promise<readonly PriorCellRun[]> {
    const executions = await this.repo.listExecutions(sessionId);
    return executions.map((e) => ({
      executionId: e.id,
      seq: e.seq,
      cellId: e.cellId,
      state: e.state,
      outputs: e.outputs,
      truncated: e.truncated,
      finishedAt: e.finishedAt,
    }));
  }
}
