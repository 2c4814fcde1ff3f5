import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { decisionPayload } from '../audit';
import { actorFromPrincipal, currentAuditScope, runInAuditScope } from '../audit/audit-context';
import { AuditService } from '../audit/audit.service';
import type { AuditActor } from '../audit/audit.types';
import { AuthService } from '../auth/auth.service';
import { ReplicaKey } from '../db/replica-key';
import { PolicyService } from '../policy/policy.service';
import { currentTraceContext } from '../telemetry/otel';
import { verifyForwarded, wasProxied } from './forwarding';

/**
 * Turns what identity and policy observe into audit events: every authorization
 * decision (with the rule that matched), every failed authentication, every policy
 * reload. Lives above auth, policy and audit so none of them imports another.
 */
@Injectable()
export class AuditHooks implements OnModuleInit, OnModuleDestroy {
  private readonly unsubscribe: Array<() => void> = [];

  constructor(
    private readonly audit: AuditService,
    private readonly policy: PolicyService,
    private readonly auth: AuthService,
    private readonly replicaKey: ReplicaKey,
  ) {}

  onModuleInit(): void {
    this.unsubscribe.push(
      this.policy.onDecision((e) => {
        // List filtering asks once per item; the list call's own decision is the record.
        if (e.kind === 'filter') return;
        const scope = currentAuditScope();
        // A forwarded command was decided on the replica that received it, and recorded
        // there: the owner's decision is recorded only when it differs (a refusal).
        if (scope?.forwardedBy !== undefined && e.decision.allowed) return;
        this.audit.recordSoon('policy.decision', {
          ...decisionPayload(e.decision, e.kind),
          actor: actorFromPrincipal(e.principal, scope ?? {}),
          severity: e.decision.allowed ? 'info' : 'warning',
        });
      }),
      this.auth.onAuthFailure((f) => {
        const actor: AuditActor = { type: 'anonymous', ip: f.ip, user_agent: f.userAgent };
        this.audit.recordSoon('auth.failed', {
          actor,
          outcome: { result: 'failure', reason: f.reason },
          details: { kind: f.kind },
        });
      }),
      this.policy.onReload((r) => {
        this.audit.recordSoon('policy.reloaded', {
          outcome: r.ok
            ? { result: 'success' }
            : { result: 'failure', reason: 'the policy files are invalid' },
          details: {
            files: this.policy.health().files,
            loaded_at: r.loadedAt,
            ...(r.error ? { error: r.error } : {}),
          },
        });
      }),
    );
  }

  onModuleDestroy(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /**
   * Express middleware: opens the audit scope of a request (who, from where) and,
   * when it is a command (anything but a read) or was refused, records an
   * `http.request` event with its result once the response is sent.
   *
   * A request proxied to the replica holding its session is recorded by that replica
   * (one command, one event, with its real result), not by the one that forwarded it;
   * there, a verified forwarding gives the client's address and names the forwarder.
   */
  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const forwarded = verifyForwarded(this.replicaKey, req);
      const scope = forwarded
        ? { ip: forwarded.ip, userAgent: req.get('user-agent'), forwardedBy: forwarded.by }
        : { ip: req.ip, userAgent: req.get('user-agent') };
      const trace = currentTraceContext();
      const started = performance.now();
      runInAuditScope(scope, () => {
        res.once('finish', () => {
          const path = req.originalUrl.split('?')[0];
          if (!path.startsWith('/v1/') || wasProxied(req)) return;
          if (req.method === 'GET' && res.statusCode < 400) return;
          const principal = currentPrincipalOf(req);
          // Kept on the gateway chain: a session's chain holds its own life only.
          this.audit.recordSoon(
            'http.request',
            {
              actor: principal
                ? actorFromPrincipal(principal, scope)
                : { type: 'anonymous', ip: scope.ip, user_agent: scope.userAgent },
              http: {
                method: req.method,
                path,
                ...(typeof req.route?.path === 'string'
                  ? { route: `/v1${req.route.path}`.replace('/v1/v1', '/v1') }
                  : {}),
                status_code: res.statusCode,
                duration_ms: Math.round(performance.now() - started),
                ...(forwarded ? { forwarded_by: forwarded.by } : {}),
              },
              outcome: {
                result: res.statusCode < 400 ? 'success' : 'failure',
                ...(res.statusCode >= 400 ? { reason: `HTTP ${res.statusCode}` } : {}),
              },
            },
            trace ? { trace } : {},
          );
        });
        next();
      });
    };
  }
}

function currentPrincipalOf(req: Request) {
  return (req as Request & { principal?: import('../auth/principal').Principal }).principal;
}
