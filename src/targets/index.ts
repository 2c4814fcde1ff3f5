export { TargetsModule } from './targets.module';
export { TargetsService, TARGETS_ENV } from './targets.service';
export { loadTargetsFile } from './targets-file';
export {
  targetEnvPrefix,
  type ElevationRequest,
  type IssuedCredential,
  type SessionCredentials,
  type SessionGrantRequest,
  type SessionOpenCheck,
  type SweepReport,
  type TargetDescription,
  type TargetKind,
} from './targets.types';
