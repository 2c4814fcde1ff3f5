import { Module } from '@nestjs/common';
import { AuditModule } from '../audit';
import { KernelsModule } from '../kernels/kernels.module';
import { RunbooksModule } from '../runbooks';
import { TargetsModule } from '../targets/targets.module';
import { SessionResourceResolver, StartSessionResourceResolver } from './session-resource.resolver';
import { SessionAudit } from './session-audit';
import { SessionsController } from './sessions.controller';
import { SessionsRepository } from './sessions.repository';
import { SessionsService } from './sessions.service';

@Module({
  imports: [AuditModule, KernelsModule, RunbooksModule, TargetsModule],
  controllers: [SessionsController],
  providers: [SessionAudit, SessionsRepository, SessionsService, SessionResourceResolver, StartSessionResourceResolver],
  exports: [SessionsService],
})
export class SessionsModule {}
