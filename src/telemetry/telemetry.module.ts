import { Global, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { flushTelemetry } from './otel';

/** Sends the spans still batched when the gateway stops. */
@Injectable()
export class TelemetryFlush implements OnApplicationShutdown {
  onApplicationShutdown(): Promise<void> {
    return flushTelemetry();
  }
}

/**
 * The telemetry module of the app: the SDK itself starts before Nest loads
 * (register.ts). Global, so that its shutdown hook runs after the other modules'
 * (Nest ends global modules last): the spans of the relay's last publish and of the
 * sessions' ends go out too.
 */
@Global()
@Module({ providers: [TelemetryFlush] })
export class TelemetryModule {}
