/** What other modules use from approvals. */
export { ApprovalsModule, type ApprovalsModuleOptions } from './approvals.module';
export {
  ApprovalsService,
  type ApprovalListItem,
  type ApprovalSummary,
  type ApprovalView,
  type RequestApprovalInput,
} from './approvals.service';
export { parametersSha256 } from './binding';
export {
  ApprovalWebhook,
  type ApprovalNotification,
  type DeliveryResult,
} from './approval-webhook';
export {
  signWebhook,
  verifyWebhook,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  DELIVERY_HEADER,
} from './webhook-signature';
export {
  APPROVAL_SESSION_FACTS,
  type ApprovalRecord,
  type ApprovalRefusal,
  type ApprovalSessionFacts,
  type ApprovalState,
  type BreakGlassInput,
  type ConsumeInput,
  type PriorCellRun,
  type SessionCellFacts,
  type SessionFacts,
} from './approvals.types';
