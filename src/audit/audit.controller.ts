import { Controller, Get, Param, ParseUUIDPipe, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authorize } from '../policy/authorize.decorator';
import { AuditService, type AuditPage, type AuditVerification } from './audit.service';
import { GATEWAY_CHAIN } from './audit.types';
import { AuditEventsQueryDto } from './dto/audit-query.dto';

@ApiTags('audit')
@Controller('audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get('events')
  @Authorize('audit:read')
  @ApiOperation({
    summary: 'Search the audit trail',
    description: 'The same events as on Kafka, newest first. Follow `nextCursor` for older pages.',
  })
  events(@Query() q: AuditEventsQueryDto): Promise<AuditPage> {
    return this.audit.query({
      session: q.session,
      actor: q.actor,
      types: q.type,
      from: q.from === undefined ? undefined : new Date(q.from),
      to: q.to === undefined ? undefined : new Date(q.to),
      text: q.text,
      cursor: q.cursor,
      limit: q.limit,
    });
  }

  @Get('sessions/:id/verify')
  @Authorize('audit:read')
  @ApiOperation({ summary: "Recompute a session's hash chain and report the first break" })
  verifySession(@Param('id', ParseUUIDPipe) id: string): Promise<AuditVerification> {
    return this.audit.verify(id);
  }

  @Get('gateway/verify')
  @Authorize('audit:read')
  @ApiOperation({
    summary: 'Recompute the gateway chain (events outside sessions) and report the first break',
  })
  verifyGateway(): Promise<AuditVerification> {
    return this.audit.verify(GATEWAY_CHAIN);
  }
}
