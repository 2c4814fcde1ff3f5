import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Res,
  Sse,
  type MessageEvent,
} from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Observable, interval, map, merge, share, takeUntil, last } from 'rxjs';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { CurrentPrincipal } from '../auth';
import { RequireRecentAuthentication } from '../auth/step-up';
import { Authorize } from '../policy/authorize.decorator';
import { PolicyService } from '../policy/policy.service';
import {
  CellResourceResolver,
  SessionResourceResolver,
  StartSessionResourceResolver,
} from './session-resource.resolver';
import { ListSessionsQueryDto, WaitQueryDto } from './dto/query.dto';
import { ExecuteCellDto } from './dto/execute-cell.dto';
import { StartSessionDto } from './dto/start-session.dto';
import { SessionsService } from './sessions.service';
import { executionView, sessionDetail, sessionSummary } from './sessions.views';

const KEEPALIVE_MS = 15_000;
const CELL_ID = /^[A-Za-z0-9_.-]{1,64}$/;

@ApiTags('sessions')
@Controller('sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly policy: PolicyService,
  ) {}

  @Post()
  @Authorize('session:start', StartSessionResourceResolver)
  @ApiOperation({
    summary: 'Start a session on a runbook (pins its version, validates parameters)',
  })
  async start(@CurrentPrincipal() principal: Principal, @Body() body: StartSessionDto) {
    return sessionDetail(await this.sessions.start(principal, body));
  }

  @Get()
  @Authorize('session:read')
  @ApiOperation({ summary: 'Your sessions, newest first' })
  async list(@CurrentPrincipal() principal: Principal, @Query() q: ListSessionsQueryDto) {
    if (q.all) {
      const d = this.policy.authorizeAny(principal, 'session:read-any');
      if (!d.allowed) {
        throw new RungateError(
          ErrorCode.Forbidden,
          "listing everyone's sessions needs session:read-any",
          {
            action: 'session:read-any',
          },
        );
      }
    }
    const rows = await this.sessions.list({
      ownerSub: q.all ? undefined : principal.sub,
      state: q.state,
      limit: q.limit,
    });
    return { sessions: rows.map(sessionSummary) };
  }

  @Get(':id')
  @Authorize('session:read', SessionResourceResolver)
  @ApiOperation({ summary: 'A session with its cells and executions' })
  async get(@Param('id', ParseUUIDPipe) id: string) {
    return sessionDetail(await this.sessions.get(id));
  }

  @Delete(':id')
  @Authorize('cell:execute', SessionResourceResolver)
  @ApiOperation({ summary: 'End a session; its kernel is shut down' })
  async end(@CurrentPrincipal() principal: Principal, @Param('id', ParseUUIDPipe) id: string) {
    return sessionDetail(await this.sessions.end(principal, id));
  }

  @Post(':id/cells/:cellId/execute')
  @HttpCode(200)
  @Authorize('cell:execute', CellResourceResolver)
  // Breaking glass is a decision: it needs a recent sign-in, like approving.
  @RequireRecentAuthentication({
    when: (req) => (req.body as { breakGlass?: unknown } | undefined)?.breakGlass !== undefined,
  })
  @ApiOperation({
    summary: 'Run one cell',
    description:
      'Waits for the cell to finish (200) unless ?wait=false (202 at once). A request made while ' +
      'another cell runs is queued in order; past the queue limit it is refused with 409. A ' +
      'mutating cell runs only under a granted approval (POST /v1/approvals), consumed by this ' +
      'call, or with a break-glass reason.',
  })
  async execute(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Param('cellId') cellId: string,
    @Query() q: WaitQueryDto,
    @Body() body: ExecuteCellDto,
    @Res({ passthrough: true }) res: Response,
  ) {
    assertCellId(cellId);
    const wait = q.wait ?? true;
    const e = await this.sessions.execute(principal, id, cellId, wait, body?.breakGlass);
    if (!wait) res.status(202);
    return executionView(e);
  }

  @Post(':id/run')
  @HttpCode(200)
  @Authorize('cell:execute', SessionResourceResolver)
  @ApiOperation({
    summary: 'Run the read-only cells in order; stops before the first mutating one',
  })
  async run(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() q: WaitQueryDto,
    @Res({ passthrough: true }) res: Response,
  ) {
    const wait = q.wait ?? true;
    const r = await this.sessions.runReadOnly(principal, id, wait);
    if (!wait) res.status(202);
    return { executions: r.executions.map(executionView), stoppedBefore: r.stoppedBefore };
  }

  @Post(':id/interrupt')
  @Authorize('cell:execute', SessionResourceResolver)
  @HttpCode(200)
  @ApiOperation({ summary: 'Interrupt the running cell and drop the queued ones' })
  async interrupt(@Param('id', ParseUUIDPipe) id: string) {
    return this.sessions.interrupt(id);
  }

  @Post(':id/kernel')
  @Authorize('cell:execute', SessionResourceResolver)
  @HttpCode(200)
  @ApiOperation({ summary: 'Attach a new kernel (after the old one died); parameters run again' })
  async newKernel(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
  ) {
    return sessionDetail(await this.sessions.replaceKernel(principal, id));
  }

  @Get(':id/executions/:executionId')
  @Authorize('session:read', SessionResourceResolver)
  @ApiOperation({ summary: 'One execution with its recorded outputs' })
  async execution(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('executionId', ParseUUIDPipe) executionId: string,
  ) {
    return executionView(await this.sessions.execution(id, executionId));
  }

  @Sse(':id/stream')
  @Authorize('session:read', SessionResourceResolver)
  @ApiProduces('text/event-stream')
  @ApiOperation({ summary: 'Server-Sent Events: outputs as they come and state changes' })
  async stream(@Param('id', ParseUUIDPipe) id: string): Promise<Observable<MessageEvent>> {
    const events = (await this.sessions.stream(id)).pipe(
      map((e): MessageEvent => ({ type: e.type, data: e })),
      share(),
    );
    const done = events.pipe(last(null, null));
    const keepalive = interval(KEEPALIVE_MS).pipe(
      map((): MessageEvent => ({ type: 'ping', data: {} })),
      takeUntil(done),
    );
    return merge(events, keepalive);
  }
}

function assertCellId(cellId: string): void {
  if (!CELL_ID.test(cellId)) {
    throw new RungateError(
      ErrorCode.InvalidRequest,
      'cell id must be 1 to 64 letters, digits, "_", "-" or "."',
    );
  }
}
