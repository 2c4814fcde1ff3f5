import { Module } from '@nestjs/common';
import { KernelsModule } from '../kernels/kernels.module';
import { GatewayMetrics } from './gateway-metrics';
import { MetricsRepository } from './metrics.repository';

/**
 * The gateway's Prometheus series beyond the few counted where they happen (see
 * src/telemetry/metrics.ts): derived from committed audit events and read at scrape
 * time. Sits above sessions and approvals, whose parts it reads through the module
 * reference; /metrics itself is served by the health controller. Needs the global
 * DbModule and ConfigModule.
 */
@Module({
  imports: [KernelsModule],
  providers: [MetricsRepository, GatewayMetrics],
  exports: [GatewayMetrics],
})
export class MetricsModule {}
