import { Controller, Get, Param, ParseUUIDPipe, Res, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal } from '../auth';
import type { Principal } from '../auth/principal';
import { ErrorCode } from '../common/errors';
import { ApiUuidParam } from '../http/openapi/api-params';
import { ApiProblems, GUARDED } from '../http/openapi/api-problems';
import { Authorize } from '../policy/authorize.decorator';
import { SessionOwnerInterceptor } from '../sessions/session-owner.interceptor';
import { SessionResourceResolver } from '../sessions/session-resource.resolver';
import { REPORT_CSP } from './html-report';
import { RunRecordsService } from './run-records.service';

/** Media type of Jupyter notebooks (https://jupyter.org, IANA registration pending). */
const IPYNB = 'application/x-ipynb+json';

const ON_EXPORT = [
  ...GUARDED,
  ErrorCode.InvalidRequest,
  ErrorCode.NotFound,
  // an audit chain larger than an export holds
  ErrorCode.PayloadTooLarge,
] as const;

/** A session's run record, for the postmortem: as a notebook and as a report. */
@ApiTags('sessions')
@ApiBearerAuth()
@Controller('sessions')
// Answered by the replica holding the session (it may hold what the database does not yet).
@UseInterceptors(SessionOwnerInterceptor)
export class RunRecordsController {
  constructor(private readonly records: RunRecordsService) {}

  @Get(':id/notebook')
  @Authorize('session:export', SessionResourceResolver)
  @ApiOperation({
    summary: 'The session as an executed Jupyter notebook (nbformat 4.5)',
    description:
      "The pinned runbook's cells with each cell's last recorded (redacted) outputs, the " +
      'injected parameters, and in `metadata.rungate` every execution (who, when, status, ' +
      'approval, trace id) and the head of the session audit chain. Recorded as ' +
      '`session.exported` before it is sent.',
  })
  @ApiUuidParam('id', 'Session id')
  @ApiProduces(IPYNB)
  @ApiOkResponse({
    description: 'An nbformat 4.5 notebook, as an attachment',
    content: { [IPYNB]: { schema: { type: 'object', required: ['nbformat', 'cells'] } } },
  })
  @ApiProblems(...ON_EXPORT)
  async notebook(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const notebook = await this.records.notebook(principal, id);
    res.type(IPYNB);
    res.attachment(`rungate-session-${id}.ipynb`);
    // One space per level, as Jupyter writes notebooks.
    return `${JSON.stringify(notebook, null, 1)}\n`;
  }

  @Get(':id/report')
  @Authorize('session:export', SessionResourceResolver)
  @ApiOperation({
    summary: 'The session as a self-contained HTML report (no script, no external assets)',
    description:
      'Who, when, why and the incident; a timeline of executions, approvals and credentials; ' +
      'each cell with its class and outputs (kernel HTML sanitized); the chain verification ' +
      'result. Recorded as `session.exported` before it is sent.',
  })
  @ApiUuidParam('id', 'Session id')
  @ApiProduces('text/html')
  @ApiOkResponse({
    description: 'An HTML document',
    content: { 'text/html': { schema: { type: 'string' } } },
  })
  @ApiProblems(...ON_EXPORT)
  async report(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<string> {
    const html = await this.records.report(principal, id);
    res.type('text/html; charset=utf-8');
    // The page's own meta CSP says the same; the header also binds it when served.
    res.setHeader('Content-Security-Policy', REPORT_CSP);
    return html;
  }
}
