import { Global, Inject, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { Database } from './database';
import { GatewayInstance } from './gateway-instance';
import { ReplicaKey } from './replica-key';

const logger = new Logger('Database');

/**
 * Opens the database and applies migrations inside the provider factory, so any
 * provider that injects {@link Database} gets a migrated schema: Nest resolves an
 * async factory before instantiating its dependents.
 */
async function openDatabase(config: AppConfig): Promise<Database> {
  const db = await Database.open({
    url: config.database.url,
    dataDir: config.dataDir,
    poolSize: config.database.poolSize,
    connectTimeoutMs: config.database.connectTimeoutMs,
    logger,
  });
  try {
    await db.migrate();
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
  return db;
}

/**
 * PostgreSQL for every module: {@link Database} (pool, transactions, ping), this
 * process's {@link GatewayInstance} and the {@link ReplicaKey} replicas share.
 *
 * Shutdown: the connection closes in onApplicationShutdown, the last hook, so
 * modules can still write in onModuleDestroy / beforeApplicationShutdown. The app
 * must call `enableShutdownHooks()` for signals to reach it.
 */
@Global()
@Module({
  providers: [
    { provide: Database, inject: [APP_CONFIG], useFactory: openDatabase },
    {
      provide: GatewayInstance,
      inject: [Database, APP_CONFIG],
      useFactory: (db: Database, config: AppConfig) =>
        GatewayInstance.register(db, {
          heartbeatIntervalMs: config.replicas.heartbeatIntervalMs,
          staleAfterMs: config.replicas.staleAfterMs,
          onHeartbeatError: (err) =>
            logger.warn(`gateway heartbeat failed: ${(err as Error).message}`),
        }),
    },
    {
      provide: ReplicaKey,
      inject: [Database, APP_CONFIG],
      useFactory: (db: Database, config: AppConfig) => ReplicaKey.load(db, config.replicas.secret),
    },
  ],
  exports: [Database, GatewayInstance, ReplicaKey],
})
export class DbModule implements OnApplicationShutdown {
  constructor(
    @Inject(Database) private readonly db: Database,
    @Inject(GatewayInstance) private readonly instance: GatewayInstance,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    try {
      await this.instance.stop();
    } catch (err) {
      logger.warn(`could not record this instance's stop: ${(err as Error).message}`);
    } finally {
      await this.db.close();
    }
  }
}
