import type { AppConfig } from '../config/config.types';
import type { StaticTargetDefinition } from './targets.types';

/**
 * The configuration with one more target that the gateway configures itself, such as
 * the demo target main.ts starts before the app (see `startDemoTarget`). Its name is
 * then refused in the targets file.
 */
export function withEmbeddedTarget(config: AppConfig, target: StaticTargetDefinition): AppConfig {
  const embedded = Object.freeze([...config.targets.embedded, Object.freeze({ ...target })]);
  return Object.freeze({ ...config, targets: Object.freeze({ ...config.targets, embedded }) });
}
