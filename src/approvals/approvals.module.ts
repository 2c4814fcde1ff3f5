import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ApprovalAudit } from './approval-audit';
import { ApprovalExpiry } from './approval-expiry';
import { ApprovalLedger } from './approval-ledger';
import { ApprovalNotificationsRepository } from './approval-notifications.repository';
import { ApprovalResourceResolver } from './approval-resource.resolver';
import { ApprovalRequests } from './approval-requests';
import { ApprovalReviews } from './approval-reviews';
import { ApprovalUse } from './approval-use';
import { ApprovalViews } from './approval-views';
import { ApprovalWebhook } from './approval-webhook';
import { ApprovalsController } from './approvals.controller';
import { ApprovalsRepository } from './approvals.repository';
import { ApprovalsService } from './approvals.service';

/**
 * Approvals of mutating cells, a ledger: `ApprovalsService` (whose `request`,
 * `consume` and `breakGlass` take complete values from the caller, the last two
 * inside the caller's transaction that commits an execution), the `/v1/approvals`
 * routes that need nothing but the ledger, the parts it calls into, and the expiry
 * sweeper (`ApprovalExpiry`). It reads nothing outside its own tables; calls come
 * in, never go back out. Needs the global DbModule, PolicyModule and ConfigModule;
 * records events through AuditModule.
 */
@Module({
  imports: [AuditModule],
  controllers: [ApprovalsController],
  providers: [
    ApprovalsRepository,
    ApprovalsService,
    ApprovalLedger,
    ApprovalRequests,
    ApprovalReviews,
    ApprovalUse,
    ApprovalExpiry,
    ApprovalViews,
    ApprovalAudit,
    ApprovalWebhook,
    ApprovalNotificationsRepository,
    ApprovalResourceResolver,
  ],
  exports: [ApprovalsService, ApprovalWebhook, ApprovalResourceResolver],
})
export class ApprovalsModule {}
