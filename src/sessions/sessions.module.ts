import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals';
import { AuditModule } from '../audit';
import { KernelsModule } from '../kernels/kernels.module';
import { RunbooksModule } from '../runbooks';
import { TargetsModule } from '../targets/targets.module';
import { CellRunner } from './cell-runner';
import { ExecutionCompletion } from './execution-completion';
import { ExecutionRequests } from './execution-requests';
import { KernelBinding } from './kernel-binding';
import { MutatingGate } from './mutating-gate';
import {
  CellResourceResolver,
  SessionResourceResolver,
  StartSessionResourceResolver,
} from './session-resource.resolver';
import { SessionApprovalsModule } from './session-approvals.module';
import { SessionAudit } from './session-audit';
import { RunbookVersions } from './runbook-versions';
import { SessionAdmission } from './session-admission';
import { SessionLifecycle } from './session-lifecycle';
import { ExecutionTransitions, SessionTransitions } from './session-state';
import { SessionsStoreModule } from './sessions-store.module';
import { RunRecordsController } from '../records/run-records.controller';
import { RunRecordsService } from '../records/run-records.service';
import { SessionsController } from './sessions.controller';
import { SessionsService } from './sessions.service';
import { ReplicaProxy } from './replica-proxy';
import { SessionOwnerInterceptor, SessionOwners } from './session-owner.interceptor';

@Module({
  imports: [
    AuditModule,
    KernelsModule,
    RunbooksModule,
    TargetsModule,
    SessionsStoreModule,
    // Before SessionApprovalsModule, so the ledger's /approvals routes register first.
    ApprovalsModule,
    SessionApprovalsModule,
  ],
  // Run records read sessions and their audit chains; their routes sit under /sessions.
  controllers: [SessionsController, RunRecordsController],
  providers: [
    SessionAudit,
    SessionTransitions,
    ExecutionTransitions,
    KernelBinding,
    MutatingGate,
    ExecutionRequests,
    ExecutionCompletion,
    CellRunner,
    SessionAdmission,
    RunbookVersions,
    SessionLifecycle,
    SessionsService,
    RunRecordsService,
    SessionResourceResolver,
    CellResourceResolver,
    StartSessionResourceResolver,
    ReplicaProxy,
    SessionOwners,
    SessionOwnerInterceptor,
  ],
  exports: [SessionsService, SessionOwners, SessionOwnerInterceptor, ReplicaProxy],
})
export class SessionsModule {}
