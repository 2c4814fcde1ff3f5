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
  Req,
  Res,
  Sse,
  UseInterceptors,
  type MessageEvent,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiBody,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Observable, interval, map, merge, share, takeUntil, last } from 'rxjs';
import type { Principal } from '../auth/principal';
import { ErrorCode, RungateError } from '../common/errors';
import { CurrentPrincipal } from '../auth';
import { ApiUuidParam } from '../http/openapi/api-params';
import { ApiProblems, GUARDED, WITH_BODY } from '../http/openapi/api-problems';
import { RequireRecentAuthentication } from '../auth/step-up';
import { Authorize } from '../policy/authorize.decorator';
import { CurrentDecision } from '../policy/decided';
import type { Decision } from '../policy/policy.types';
import { PolicyService } from '../policy/policy.service';
import {
  CellResourceResolver,
  SessionResourceResolver,
  StartSessionResourceResolver,
} from './session-resource.resolver';
import { ListSessionsQueryDto, WaitQueryDto } from './dto/query.dto';
import { ExecuteCellDto } from './dto/execute-cell.dto';
import { StartSessionDto } from './dto/start-session.dto';
import {
  ExecutionDto,
  InterruptResultDto,
  SESSION_EVENT_TYPES,
  RunResultDto,
  SessionDetailDto,
  SessionListDto,
} from './dto/session.responses';
import { ReplicaProxy } from './replica-proxy';
import { SessionOwnerInterceptor, SessionOwners } from './session-owner.interceptor';
import { SessionsService } from './sessions.service';
import {
  executionView,
  interruptResult,
  runResult,
  sessionDetail,
  sessionSummary,
} from './sessions.views';

const KEEPALIVE_MS = 15_000;
const CELL_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** The `{id}` of every route here. */
const ApiSessionId = () => ApiUuidParam('id', 'Session id');

/** What any route on one session may answer besides success. */
const ON_SESSION = [...GUARDED, ErrorCode.InvalidRequest, ErrorCode.NotFound] as const;

/** What a route that runs code in the session may answer besides that. */
const RUNS_CODE = [
  ...ON_SESSION,
  // the session ended; a state change raced this one
  ErrorCode.SessionEnded,
  ErrorCode.Conflict,
  // past the queue limit
  ErrorCode.Busy,
  // no kernel could be started or reached
  ErrorCode.KernelUnavailable,
] as const;

@ApiTags('sessions')
@ApiBearerAuth()
@Controller('sessions')
export class SessionsController {
  constructor(
    private readonly sessions: SessionsService,
    private readonly policy: PolicyService,
    private readonly owners: SessionOwners,
    private readonly proxy: ReplicaProxy,
  ) {}

  @Post()
  @Authorize('session:start', StartSessionResourceResolver)
  @ApiOperation({
    summary: 'Start a session on a runbook (pins its version, validates parameters)',
  })
  @ApiCreatedResponse({ type: SessionDetailDto })
  @ApiProblems(
    ...GUARDED,
    ...WITH_BODY,
    // an unknown runbook or version; an invalid runbook (parameters are invalid_request)
    ErrorCode.NotFound,
    ErrorCode.RunbookInvalid,
    // too many open sessions, on the gateway or for you
    ErrorCode.Busy,
    ErrorCode.KernelUnavailable,
  )
  async start(
    @CurrentPrincipal() principal: Principal,
    @Body() body: StartSessionDto,
  ): Promise<SessionDetailDto> {
    return sessionDetail(await this.sessions.start(principal, body));
  }

  @Get()
  @Authorize('session:read')
  @ApiOperation({ summary: 'Your sessions, newest first' })
  @ApiOkResponse({ type: SessionListDto })
  @ApiProblems(...GUARDED, ErrorCode.InvalidRequest)
  async list(
    @CurrentPrincipal() principal: Principal,
    @Query() q: ListSessionsQueryDto,
  ): Promise<SessionListDto> {
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
  @UseInterceptors(SessionOwnerInterceptor)
  @Authorize('session:read', SessionResourceResolver)
  @ApiOperation({ summary: 'A session with its cells and executions' })
  @ApiSessionId()
  @ApiOkResponse({ type: SessionDetailDto })
  @ApiProblems(...ON_SESSION)
  async get(@Param('id', ParseUUIDPipe) id: string): Promise<SessionDetailDto> {
    return sessionDetail(await this.sessions.get(id));
  }

  @Delete(':id')
  @UseInterceptors(SessionOwnerInterceptor)
  @Authorize('cell:execute', SessionResourceResolver)
  @ApiOperation({ summary: 'End a session; its kernel is shut down' })
  @ApiSessionId()
  @ApiOkResponse({ type: SessionDetailDto })
  @ApiProblems(...ON_SESSION, ErrorCode.SessionEnded, ErrorCode.Conflict)
  async end(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
  ): Promise<SessionDetailDto> {
    return sessionDetail(await this.sessions.end(principal, id));
  }

  @Post(':id/cells/:cellId/execute')
  @UseInterceptors(SessionOwnerInterceptor)
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
  @ApiSessionId()
  // Only break-glass runs need a body.
  @ApiBody({ type: ExecuteCellDto, required: false })
  @ApiParam({
    name: 'cellId',
    description: 'Id of a code cell of the runbook version the session pinned',
    schema: { type: 'string', pattern: CELL_ID.source },
  })
  @ApiOkResponse({ type: ExecutionDto, description: 'The execution, finished' })
  @ApiAcceptedResponse({ type: ExecutionDto, description: 'With ?wait=false: queued or running' })
  @ApiProblems(
    ...RUNS_CODE,
    ...WITH_BODY,
    // breaking glass needs a recent sign-in
    ErrorCode.StepUpRequired,
    // a mutating cell without a usable approval
    ErrorCode.ApprovalRequired,
    // a mutating cell whose predecessors have not all run, in order, on this kernel
    ErrorCode.OutOfOrder,
  )
  async execute(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Param('cellId') cellId: string,
    @Query() q: WaitQueryDto,
    @Body() body: ExecuteCellDto,
    @CurrentDecision() decision: Decision,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ExecutionDto> {
    assertCellId(cellId);
    const wait = q.wait ?? true;
    const e = await this.sessions.execute(principal, id, cellId, wait, {
      decision,
      breakGlass: body?.breakGlass,
    });
    if (!wait) res.status(202);
    return executionView(e);
  }

  @Post(':id/run')
  @UseInterceptors(SessionOwnerInterceptor)
  @HttpCode(200)
  @Authorize('cell:execute', SessionResourceResolver)
  @ApiOperation({
    summary: 'Run the read-only cells in order; stops before the first mutating one',
  })
  @ApiSessionId()
  @ApiOkResponse({ type: RunResultDto, description: 'The executions, finished' })
  @ApiAcceptedResponse({ type: RunResultDto, description: 'With ?wait=false: queued' })
  @ApiProblems(...RUNS_CODE)
  async run(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
    @Query() q: WaitQueryDto,
    @Res({ passthrough: true }) res: Response,
  ): Promise<RunResultDto> {
    const wait = q.wait ?? true;
    const r = await this.sessions.runReadOnly(principal, id, wait);
    if (!wait) res.status(202);
    return runResult(r);
  }

  @Post(':id/interrupt')
  @UseInterceptors(SessionOwnerInterceptor)
  @Authorize('cell:execute', SessionResourceResolver)
  @HttpCode(200)
  @ApiOperation({ summary: 'Interrupt the running cell and drop the queued ones' })
  @ApiSessionId()
  @ApiOkResponse({ type: InterruptResultDto })
  @ApiProblems(
    ...ON_SESSION,
    ErrorCode.SessionEnded,
    ErrorCode.Conflict,
    ErrorCode.KernelUnavailable,
  )
  async interrupt(@Param('id', ParseUUIDPipe) id: string): Promise<InterruptResultDto> {
    return interruptResult(await this.sessions.interrupt(id));
  }

  @Post(':id/kernel')
  @UseInterceptors(SessionOwnerInterceptor)
  @Authorize('cell:execute', SessionResourceResolver)
  @HttpCode(200)
  @ApiOperation({ summary: 'Attach a new kernel (after the old one died); parameters run again' })
  @ApiSessionId()
  @ApiOkResponse({ type: SessionDetailDto })
  @ApiProblems(...RUNS_CODE)
  async newKernel(
    @CurrentPrincipal() principal: Principal,
    @Param('id', ParseUUIDPipe) id: string,
  ): Promise<SessionDetailDto> {
    return sessionDetail(await this.sessions.replaceKernel(principal, id));
  }

  @Get(':id/executions/:executionId')
  @UseInterceptors(SessionOwnerInterceptor)
  @Authorize('session:read', SessionResourceResolver)
  @ApiOperation({ summary: 'One execution with its recorded outputs' })
  @ApiSessionId()
  @ApiUuidParam('executionId', 'Execution id')
  @ApiOkResponse({ type: ExecutionDto })
  @ApiProblems(...ON_SESSION)
  async execution(
    @Param('id', ParseUUIDPipe) id: string,
    @Param('executionId', ParseUUIDPipe) executionId: string,
  ): Promise<ExecutionDto> {
    return executionView(await this.sessions.execution(id, executionId));
  }

  @Sse(':id/stream')
  @Authorize('session:read', SessionResourceResolver)
  @ApiProduces('text/event-stream')
  @ApiOperation({
    summary: 'Server-Sent Events: outputs as they come and state changes',
    description:
      'Events `session.state`, `execution.queued`, `execution.started`, `execution.output`, ' +
      '`execution.clear_output`, `execution.update_display`, `execution.finished`, each with ' +
      'its JSON as `data`, and `ping` every 15 s. The stream ends when the session does.',
  })
  @ApiSessionId()
  @ApiOkResponse({
    description: 'An event stream; the schema is that of one event',
    content: {
      'text/event-stream': {
        schema: {
          type: 'object',
          required: ['event', 'data'],
          properties: {
            event: { type: 'string', enum: [...SESSION_EVENT_TYPES, 'ping'] },
            data: { type: 'string', description: 'The event as JSON (its `type` repeats `event`)' },
            id: { type: 'string', description: 'Position in the stream' },
          },
        },
        example: {
          event: 'session.state',
          id: '1',
          data: '{"type":"session.state","session":"0195f3f0-7c1a-7d3e-9a51-3c2f1b0e4a77","state":"idle"}',
        },
      },
    },
  })
  @ApiProblems(...ON_SESSION)
  async stream(
    @Param('id', ParseUUIDPipe) id: string,
    @Req() req: Request,
  ): Promise<Observable<MessageEvent>> {
    // Held by another replica: its stream, proxied (see SessionOwnerInterceptor).
    const owner = await this.owners.elsewhere(req, id);
    if (owner !== undefined && req.res) {
      const remote = await this.proxy.events(req, req.res, owner);
      if (remote !== 'unreachable') return remote;
      this.owners.unreachable(id, owner);
    }
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
