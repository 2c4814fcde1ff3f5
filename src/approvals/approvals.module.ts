import { Module, type DynamicModule, type ModuleMetadata, type Type } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ApprovalAudit } from './approval-audit';
import { ApprovalExpiry } from './approval-expiry';
import { ApprovalLedger } from './approval-ledger';
import { ApprovalNotificationsRepository } from './approval-notifications.repository';
import {
  ApprovalRequestResourceResolver,
  ApprovalResourceResolver,
} from './approval-resource.resolver';
import { ApprovalRequests } from './approval-requests';
import { ApprovalReviews } from './approval-reviews';
import { ApprovalUse } from './approval-use';
import { ApprovalViews } from './approval-views';
import { ApprovalWebhook } from './approval-webhook';
import { ApprovalsController } from './approvals.controller';
import { ApprovalsRepository } from './approvals.repository';
import { ApprovalsService } from './approvals.service';
import { APPROVAL_SESSION_FACTS, type ApprovalSessionFacts } from './approvals.types';

/** How the module is wired into an application. */
export interface ApprovalsModuleOptions {
  /**
   * The implementation of the session port (sessions provides it). Instantiated in
   * this module, so its dependencies must be global (Database) or come from `imports`.
   */
  readonly facts: Type<ApprovalSessionFacts>;
  /** Modules the facts implementation needs. */
  readonly imports?: ModuleMetadata['imports'];
}

/**
 * Approvals of mutating cells: the `/v1/approvals` API, `ApprovalsService` (whose
 * `consume` and `breakGlass` sessions call inside the transaction that commits an
 * execution), the parts it calls into, and the expiry sweeper (`ApprovalExpiry`).
 * Needs the global DbModule, PolicyModule and ConfigModule; records events through
 * AuditModule.
 */
@Module({})
export class ApprovalsModule {
  static register(options: ApprovalsModuleOptions): DynamicModule {
    return {
      module: ApprovalsModule,
      imports: [AuditModule, ...(options.imports ?? [])],
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
        ApprovalRequestResourceResolver,
        { provide: APPROVAL_SESSION_FACTS, useClass: options.facts },
      ],
      exports: [ApprovalsService, APPROVAL_SESSION_FACTS, ApprovalWebhook],
    };
  }
}
