import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ApprovalWebhook } from '../approvals';
import { observeAuditEvents } from '../audit/audit.metrics';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/config.types';
import { KernelsService } from '../kernels/kernels.service';
import { SessionLifecycle } from '../sessions/session-lifecycle';
import {
  httpRequestSeconds,
  httpRequestsTotal,
  setGaugeSources,
  webhookDeliveriesTotal,
  type OpenSessionFigures,
} from '../telemetry/metrics';
import { AuditEventMetrics } from './audit-event-metrics';
import { MetricsRepository } from './metrics.repository';

/** A tracked session with no runtime here for this long is forgotten (its end was never recorded). */
const UNHELD_GRACE_MS = 60_000;

/**
 * Wires the gateway's series to what already exists, above the modules it reads (as
 * the audit hooks are): committed audit events feed counters and histograms, the
 * scrape reads sessions, pools and pending approvals, webhook results are counted as
 * the webhook reports them, and every HTTP request is counted by route and status.
 */
@Injectable()
export class GatewayMetrics implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  readonly events: AuditEventMetrics;
  private readonly stops: Array<() => void> = [];

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly kernels: KernelsService,
    private readonly repo: MetricsRepository,
    private readonly moduleRef: ModuleRef,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    this.events = new AuditEventMetrics({
      approvalRequestedAt: (id) => this.repo.approvalRequestedAt(id),
    });
  }

  onModuleInit(): void {
    // Sessions and approvals are read, not imported: their modules are the application's.
    const lifecycle = this.moduleRef.get(SessionLifecycle, { strict: false });
    const webhook = this.moduleRef.get(ApprovalWebhook, { strict: false });
    this.stops.push(
      observeAuditEvents((e) => this.events.observe(e)),
      setGaugeSources({
        sessions: () => this.openSessions(lifecycle),
        pool: () => {
          const pools = Object.values(this.kernels.poolStats());
          return {
            ready: pools.reduce((n, p) => n + p.ready, 0),
            starting: pools.reduce((n, p) => n + p.starting, 0),
            size: this.config.kernels.poolSize,
          };
        },
        approvals: () => this.repo.pendingApprovals(),
      }),
      webhook.onDelivery((r) =>
        webhookDeliveriesTotal.inc({ result: r.ok ? 'delivered' : 'failed' }),
      ),
    );
  }

  /**
   * Counts every request the HTTP server answers, whatever answered it (a route, the
   * web app, a refusal before routing): a listener on the server's `request` event
   * sees each one, and Express has set the matched route on it by the time it closes.
   */
  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server || typeof server.on !== 'function') return;
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      const end = httpRequestSeconds.startTimer();
      res.once('close', () => {
        const route = routeOf(req);
        const method = req.method ?? 'OTHER';
        end({ method, route });
        httpRequestsTotal.inc({ method, route, status: String(res.statusCode) });
      });
    };
    server.on('request', listener);
    this.stops.push(() => server.off('request', listener));
  }

  onModuleDestroy(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  private *openSessions(lifecycle: SessionLifecycle): Iterable<OpenSessionFigures> {
    const now = Date.now();
    for (const s of this.events.sessions.values()) {
      const rt = lifecycle.held(s.id);
      if (!rt) {
        if (now - s.startedAt > UNHELD_GRACE_MS) this.events.sessions.delete(s.id);
        continue;
      }
      const running = rt.executions?.running != null;
      const inQueue = rt.executions?.ids().length ?? 0;
      yield {
        state: rt.session.state,
        ageSeconds: Math.max(0, now - s.startedAt) / 1000,
        running,
        queued: Math.max(0, inQueue - (running ? 1 : 0)),
      };
    }
  }
}

/** The route template a request matched (`/v1/sessions/:id`), or `unmatched`. */
function routeOf(req: IncomingMessage): string {
  const route = (req as IncomingMessage & { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? route.path : 'unmatched';
}
