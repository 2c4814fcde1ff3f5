import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ErrorCode } from '../common/errors';
import { ApiUuidParam } from '../http/openapi/api-params';
import { ApiProblems, GUARDED } from '../http/openapi/api-problems';
import { parseDateTime } from '../http/text-validators';
import { Authorize } from '../policy/authorize.decorator';
import { AuditService } from './audit.service';
import { GATEWAY_CHAIN } from './audit.types';
import { auditPageResponse, verificationResponse } from './audit.views';
import { AuditEventsQueryDto, EVENT_TYPE } from './dto/audit-query.dto';
import { AuditPageDto, AuditVerificationDto } from './dto/audit.responses';

@ApiTags('audit')
@ApiBearerAuth()
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get('events')
  @Authorize('audit:read')
  @ApiOperation({
    summary: 'Search the audit trail',
    description: 'The same events as on Kafka, newest first. Follow `nextCursor` for older pages.',
  })
  @ApiQuery({
    name: 'type',
    required: false,
    description: 'Event types, comma-separated; a trailing `.*` matches a family (`approval.*`)',
    schema: { type: 'array', items: { type: 'string', pattern: EVENT_TYPE }, maxItems: 32 },
    style: 'form',
    explode: false,
    example: ['cell.execution.requested', 'approval.*'],
  })
  @ApiOkResponse({ type: AuditPageDto })
  // invalid_request also for a cursor that was not issued by this gateway
  @ApiProblems(...GUARDED, ErrorCode.InvalidRequest)
  async events(@Query() q: AuditEventsQueryDto): Promise<AuditPageDto> {
    const page = await this.audit.query({
      session: q.session,
      actor: q.actor,
      types: q.type,
      from: q.from === undefined ? undefined : new Date(parseDateTime(q.from)),
      to: q.to === undefined ? undefined : new Date(parseDateTime(q.to)),
      text: q.text,
      cursor: q.cursor,
      limit: q.limit,
    });
    return auditPageResponse(page);
  }

  @Get('sessions/:id/verify')
  @Authorize('audit:read')
  @ApiOperation({ summary: "Recompute a session's hash chain and report the first break" })
  @ApiUuidParam('id', 'Session id')
  @ApiOkResponse({ type: AuditVerificationDto })
  @ApiProblems(...GUARDED, ErrorCode.InvalidRequest, ErrorCode.NotFound)
  async verifySession(@Param('id', ParseUUIDPipe) id: string): Promise<AuditVerificationDto> {
    return verificationResponse(await this.audit.verify(id));
  }

  @Get('gateway/verify')
  @Authorize('audit:read')
  @ApiOperation({
    summary: 'Recompute the gateway chain (events outside sessions) and report the first break',
  })
  @ApiOkResponse({ type: AuditVerificationDto })
  @ApiProblems(...GUARDED, ErrorCode.NotFound)
  async verifyGateway(): Promise<AuditVerificationDto> {
    return verificationResponse(await this.audit.verify(GATEWAY_CHAIN));
  }
}
