import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckService,
  type HealthIndicatorResult,
  HealthIndicatorService,
} from '@nestjs/terminus';
import { Public } from '../auth';
import { ErrorCode } from '../common/errors';
import { ApiProblems } from '../http/openapi/api-problems';
import { LivenessDto, ReadinessDto } from './dto/health.responses';
import { AuditService } from '../audit/audit.service';
import { Database } from '../db/database';
import { GatewayInstance } from '../db/gateway-instance';
import { KernelsService } from '../kernels/kernels.service';
import { PolicyService } from '../policy/policy.service';
import { RunbooksService } from '../runbooks';
import { metricsRegistry } from '../telemetry/metrics';

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicator: HealthIndicatorService,
    private readonly db: Database,
    private readonly kernels: KernelsService,
    private readonly runbooks: RunbooksService,
    private readonly policy: PolicyService,
    private readonly audit: AuditService,
    private readonly instance: GatewayInstance,
  ) {}

  @Get('healthz')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiOkResponse({ type: LivenessDto })
  liveness(): LivenessDto {
    return { status: 'ok' };
  }

  @Get('readyz')
  @Public()
  // Documented below: not ready is a problem document (with terminus's `info`, `error`
  // and `details` as extensions), as ProblemDetailsFilter writes it.
  @HealthCheck({ swaggerDocumentation: false })
  @ApiOperation({ summary: 'Readiness: database, kernels, catalog and policy are usable' })
  @ApiOkResponse({ type: ReadinessDto })
  @ApiProblems(ErrorCode.Unavailable)
  readiness() {
    return this.health.check([
      // Shutting down: still answering, finishing what runs, but no place for new work.
      () =>
        this.check('gateway', async () => {
          if (this.instance.draining) throw new Error('shutting down: new commands are refused');
          return { accepting: true };
        }),
      () =>
        this.check('database', async () => {
          await this.db.ping();
          return { embedded: this.db.embedded };
        }),
      () =>
        this.check('kernels', async () => {
          const specs = this.kernels.specs();
          if (specs.length === 0) throw new Error('no kernelspec found');
          return { specs: specs.map((s) => s.name), pool: this.kernels.poolStats() };
        }),
      () =>
        this.check('runbooks', async () => {
          const all = this.runbooks.list();
          return {
            valid: all.filter((r) => r.valid).length,
            invalid: all.filter((r) => !r.valid).length,
          };
        }),
      // Events waiting too long for Kafka: executions go on, but this replica says so.
      () =>
        this.check('audit', async () => {
          const b = await this.audit.backlogHealth();
          const details = { backlog: b.events, oldestAgeSeconds: b.oldestAgeSeconds };
          if (b.degraded)
            throw Object.assign(new Error('audit events are not reaching their sink'), { details });
          return details;
        }),
      // A broken policy file does not take the gateway out of rotation: the last good
      // policy stays in force (every replica reads the same files), and this says why.
      () =>
        this.check('policy', async () => {
          const h = this.policy.health();
          return h.ok
            ? { loadedAt: h.loadedAt }
            : { degraded: true, error: h.error, inForceSince: h.loadedAt };
        }),
    ]);
  }

  @Get('metrics')
  @Public()
  @ApiExcludeEndpoint()
  @Header('Content-Type', metricsRegistry.contentType)
  metrics(): Promise<string> {
    return metricsRegistry.metrics();
  }

  private async check(
    name: string,
    fn: () => Promise<Record<string, unknown>>,
  ): Promise<HealthIndicatorResult> {
    const ind = this.indicator.check(name);
    try {
      return ind.up(await fn());
    } catch (err) {
      return ind.down({ message: (err as Error).message });
    }
  }
}
