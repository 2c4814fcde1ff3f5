import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { ErrorCode, RungateError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { DemoShop } from './demo-shop';
import { DemoShopServer } from './demo-shop.server';

/** How to reach demo-shop; the tokens are secrets (never log them). */
export interface DemoTargetCredentials {
  url: string;
  readOnlyToken: string;
  elevatedToken: string;
}

/** Name under which the sample runbooks declare the demo target. */
export const DEMO_TARGET_NAME = 'demo-shop';

/**
 * Runs the embedded "demo-shop" production target when `demoTarget.enabled`, with fresh
 * random tokens each start. The token prefixes (`dshop_ro_`, `dshop_rw_`) make them easy
 * to recognise for output redaction.
 */
@Injectable()
export class DemoTargetService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(DemoTargetService.name);
  private server: DemoShopServer | null = null;
  private current: DemoTargetCredentials | null = null;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async onModuleInit(): Promise<void> {
    if (this.config.demoTarget.enabled) await this.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.stop();
  }

  /** Whether demo-shop is serving. */
  get running(): boolean {
    return this.current !== null;
  }

  /** URL and tokens of the running demo-shop; Unavailable when it is not running. */
  credentials(): DemoTargetCredentials {
    if (!this.current) {
      throw new RungateError(
        ErrorCode.Unavailable,
        'the demo target is not running (RUNGATE_DEMO_TARGET is off)',
      );
    }
    return { ...this.current };
  }

  /** Starts demo-shop (idempotent); called on module init when enabled. */
  async start(): Promise<DemoTargetCredentials> {
    if (this.current) return { ...this.current };
    const readOnlyToken = `dshop_ro_${randomBytes(24).toString('base64url')}`;
    const elevatedToken = `dshop_rw_${randomBytes(24).toString('base64url')}`;
    const server = new DemoShopServer(new DemoShop(), {
      readOnly: readOnlyToken,
      elevated: elevatedToken,
    });
    const url = await server.start(this.config.demoTarget.host, this.config.demoTarget.port);
    this.server = server;
    this.current = { url, readOnlyToken, elevatedToken };
    this.logger.log(`demo-shop (demo production target) listening on ${url}`);
    return { ...this.current };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.current = null;
    await server?.stop();
  }
}
