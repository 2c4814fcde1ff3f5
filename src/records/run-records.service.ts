import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/principal';
import { SessionsService } from '../sessions/sessions.service';
import { htmlReport } from './html-report';
import { executedNotebook } from './notebook-export';
import type { RunRecord } from './run-record';

/** What a session can be exported as. */
export type ExportFormat = 'ipynb' | 'html';

/**
 * Far more than any real session records (a cell run every few seconds for the
 * session's lifetime); past it an export fails instead of loading an unbounded chain.
 */
const MAX_CHAIN_EVENTS = 50_000;

/** Assembles a session's run record and renders it as a notebook or a report. */
@Injectable()
export class RunRecordsService {
  constructor(
    private readonly sessions: SessionsService,
    private readonly audit: AuditService,
  ) {}

  async notebook(principal: Principal, sessionId: string): Promise<Record<string, unknown>> {
    return executedNotebook(await this.assemble(principal, sessionId, 'ipynb'));
  }

  async report(principal: Principal, sessionId: string): Promise<string> {
    return htmlReport(await this.assemble(principal, sessionId, 'html'));
  }

  private async assemble(
    principal: Principal,
    sessionId: string,
    format: ExportFormat,
  ): Promise<RunRecord> {
    const view = await this.sessions.get(sessionId);
    // The export is on the record before anything leaves the gateway (no audit, no
    // export), and it is the last event the record quotes: the chain head in the
    // file is the head the verify endpoint reports until the session does more.
    await this.audit.recordNow('session.exported', {
      session: sessionId,
      runbook: { id: view.session.runbookId, version: view.session.runbookVersion },
      details: { format },
    });
    const verification = await this.audit.verify(sessionId);
    const events = await this.audit.chainEvents(sessionId, verification.head.seq, MAX_CHAIN_EVENTS);
    return {
      session: view.session,
      runbook: view.runbook,
      executions: view.executions,
      events,
      verification,
      exportedAt: new Date(),
      exportedBy: { sub: principal.sub, name: principal.name },
    };
  }
}
