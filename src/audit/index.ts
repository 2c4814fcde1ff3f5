export { AuditModule } from './audit.module';
export {
  AuditService,
  type AuditPage,
  type AuditQuery,
  type AuditServiceSettings,
  type AuditVerification,
  type RecordOptions,
} from './audit.service';
export * from './audit.types';
export {
  actorFromPrincipal,
  currentActor,
  runInAuditScope,
  setAuditPrincipal,
  type AuditRequestScope,
} from './audit-context';
export { decisionPayload, type PolicyDecisionLike } from './payloads';
export { digestOf, sha256Hex, type ChainVerification } from './hash-chain';
export { canonicalJson } from './canonical-json';
export { AuditEventInvalidError } from './audit-validator';
export type { AuditBacklog } from './audit.metrics';
