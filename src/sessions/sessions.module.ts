import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals';
import { AuditModule } from '../audit';
import { KernelsModule } from '../kernels/kernels.module';
import { RunbooksModule } from '../runbooks';
import { TargetsModule } from '../targets/targets.module';
import { SessionResourceResolver, StartSessionResourceResolver } from './session-resource.resolver';
import { SessionAudit } from './session-audit';
import { SessionFactsAdapter } from './session-facts';
import { SessionsStoreModule } from './sessions-store.module';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';

@Module({
  imports: [
    AuditModule,
    KernelsModule,
    RunbooksModule,
    TargetsModule,
    SessionsStoreModule,
    ApprovalsModule.register({ facts: SessionFactsAdapter, imports: [SessionsStoreModule] }),
  ],
  controllers: [SessionsController],
  providers: [SessionAudit, SessionsService, SessionResourceResolver, StartSessionResourceResolver],
  exports: [SessionsService],
})
export class SessionsModule {}
