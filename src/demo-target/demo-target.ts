import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../config/config.types';
import type { StaticTargetDefinition } from '../targets/targets.types';
import { DemoShop } from './demo-shop';
import { DemoShopServer } from './demo-shop.server';

/** Name under which the sample runbooks declare the demo target. */
export const DEMO_TARGET_NAME = 'demo-shop';

/** The embedded demo-shop, serving. */
export interface RunningDemoTarget {
  /**
   * demo-shop as an ordinary static `http` target, its tokens given as values (they are
   * secrets: never log them). Hand it to the targets module with `withEmbeddedTarget`.
   */
  readonly target: StaticTargetDefinition;
  /** Where it serves (also `target.url`). */
  readonly url: string;
  /** Stops serving (idempotent). */
  stop(): Promise<void>;
}

/**
 * Starts the embedded "demo-shop" production target on `demoTarget.host` and `.port`,
 * with fresh random tokens. Their prefixes (`dshop_ro_`, `dshop_rw_`) make them easy to
 * recognise. Started before the app, like the development issuer; the caller stops it.
 */
export async function startDemoTarget(config: AppConfig): Promise<RunningDemoTarget> {
  const readOnly = `dshop_ro_${randomBytes(24).toString('base64url')}`;
  const elevated = `dshop_rw_${randomBytes(24).toString('base64url')}`;
  const server = new DemoShopServer(new DemoShop(), { readOnly, elevated });
  const url = await server.start(config.demoTarget.host, config.demoTarget.port);
  new Logger('DemoTarget').log(`demo-shop (demo production target) listening on ${url}`);
  return {
    url,
    target: {
      name: DEMO_TARGET_NAME,
      environment: 'prod',
      kind: 'static',
      protocol: 'http',
      url,
      readOnly: { value: readOnly },
      elevated: { value: elevated },
      source: 'the embedded demo target (RUNGATE_DEMO_TARGET)',
    },
    stop: () => server.stop(),
  };
}
