export { TargetsModule } from './targets.module';
export { TargetsService, TARGETS_ENV } from './targets.service';
export { loadTargetsFile } from './targets-file';
export { withEmbeddedTarget } from './embedded-targets';
export {
  targetEnvPrefix,
  type ElevationRequest,
  type IssuedCredential,
  type KernelRoute,
  type SecretRef,
  type SessionCredentials,
  type SessionGrantRequest,
  type SessionOpenCheck,
  type StaticTargetDefinition,
  type SweepReport,
  type TargetDescription,
  type TargetEndpoint,
  type TargetKind,
} from './targets.types';
