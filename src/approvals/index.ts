/** What other modules use from approvals. */
export { ApprovalsModule } from './approvals.module';
export { ApprovalResourceResolver } from './approval-resource.resolver';
export { RequestApprovalDto } from './dto/approvals.dto';
export { ApprovalSummaryDto, ApprovalViewDto } from './dto/approval.responses';
export { approvalSummaryResponse, approvalViewResponse } from './approval-responses';
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
export type {
  ApprovalRecord,
  ApprovalRefusal,
  ApprovalState,
  ApprovalSubject,
  BreakGlassInput,
  ConsumeInput,
} from './approvals.types';
