import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { Database } from '../db/database';
import { GatewayInstance } from '../db/gateway-instance';
import { AuditController } from './audit.controller';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';
import { AuditRelay } from './relay/audit-relay';
import { createAuditSink } from './relay/create-sink';

/** How long shutdown waits for the relay to publish what is left. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * Runs the relay with the application: started once every module is ready (and
 * `gateway.started` is recorded), stopped in the last shutdown phase, after sessions
 * have ended and the HTTP server has closed (so no event is recorded after it), and
 * before the database closes (DbModule is global: its hook runs after this one),
 * flushing what it can within a grace period; the rest stays in the outbox for the
 * next start.
 */
@Injectable()
export class AuditRelayRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('AuditRelay');
  readonly relay: AuditRelay;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(Database) private readonly db: Database,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
    @Inject(AuditRepository) private readonly repo: AuditRepository,
    @Inject(AuditService) private readonly audit: AuditService,
  ) {
    const sink = createAuditSink(config.audit, this.logger);
    // Leases and published marks may be lost in a crash (events are published again): no flush waits.
    this.relay = new AuditRelay(db.relaxed, repo, sink, {
      owner: instance.id,
      pollIntervalMs: config.audit.relayPollIntervalMs,
      batchSize: config.audit.relayBatchSize,
      retentionMs: config.audit.retentionMs,
      logger: this.logger,
    });
  }

  private unsubscribe: (() => void) | undefined;

  async onApplicationBootstrap(): Promise<void> {
    // Chains leased by a gateway that died keep their events waiting until the lease
    // runs out; those of an instance known to be gone are taken over at once: at
    // start-up and whenever a heartbeat finds an instance gone (src/db/gateway-instance.ts).
    await this.instance.reapGone();
    await this.takeOverGone();
    this.unsubscribe = this.instance.onGone(() => this.takeOverGone());
    this.audit.attachRelay(this.relay);
    await this.audit.recordNow('gateway.started', {
      details: {
        instance: this.instance.id,
        host: this.instance.host,
        pid: this.instance.pid,
        version: gatewayVersion(this.config.rootDir),
        database: this.db.embedded ? 'embedded' : 'server',
        sink: this.relay.sink.kind,
        kernels: {
          provisioner: this.config.kernels.provisioner,
          network:
            this.config.kernels.provisioner === 'process'
              ? 'host'
              : this.config.kernels.sandbox.network,
        },
      },
    });
    this.relay.start();
    this.logger.log(`audit events go to ${this.relay.sink.destination}`);
  }

  private async takeOverGone(): Promise<void> {
    const released = await this.repo.releaseLeasesOfStopped(this.db);
    if (released > 0) {
      this.logger.warn(
        `took over the audit relay work of gateway instances that are gone (${released} chain(s))`,
      );
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    await this.audit.flushPending();
    this.audit.attachRelay(undefined);
    await this.relay.stop(SHUTDOWN_GRACE_MS);
  }
}

function gatewayVersion(rootDir: string): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(rootDir, 'package.json'), 'utf8'));
    const version = (pkg as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The audit trail: {@link AuditService} for recording (inside the caller's
 * transaction), querying and verifying; the relay to Kafka or the file sink; the
 * `/v1/audit` API. Needs DbModule (global) and the config.
 */
@Module({
  controllers: [AuditController],
  providers: [
    AuditRepository,
    {
      provide: AuditService,
      inject: [Database, AuditRepository, APP_CONFIG],
      useFactory: (db: Database, repo: AuditRepository, config: AppConfig) =>
        new AuditService(db, repo, {
          recordOutputs: config.audit.recordOutputs,
          backlogReadyThreshold: config.audit.backlogReadyThreshold,
          backlogReadyMaxAgeMs: config.audit.backlogReadyMaxAgeMs,
          cursorSecret: config.audit.cursorSecret,
        }),
    },
    AuditRelayRunner,
  ],
  exports: [AuditService],
})
export class AuditModule {}
