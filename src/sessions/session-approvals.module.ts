import { Module } from '@nestjs/common';
import { ApprovalsModule } from '../approvals';
import { ApprovalRequestResourceResolver } from './session-approvals.resolver';
import { SessionApprovalsController } from './session-approvals.controller';
import { SessionApprovals } from './session-approvals.service';
import { SessionsStoreModule } from './sessions-store.module';

/**
 * The approvals routes that need a session (`POST /v1/approvals`,
 * `GET /v1/approvals/{id}`): they read the session from its tables and call the
 * approvals ledger with complete values. Only the session tables and the ledger,
 * not kernels or targets, so an approvals slice can be started with it alone.
 * Needs the global ConfigModule, DbModule and PolicyModule.
 */
@Module({
  imports: [SessionsStoreModule, ApprovalsModule],
  controllers: [SessionApprovalsController],
  providers: [SessionApprovals, ApprovalRequestResourceResolver],
})
export class SessionApprovalsModule {}
