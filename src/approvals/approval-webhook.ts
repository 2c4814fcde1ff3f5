import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { retry, type BackoffPolicy } from '../audit/retry';
import { InfrastructureError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig, ApprovalWebhookConfig } from '../config/config.types';
import type { ApprovalEvent } from './approval-audit';
import type { ApprovalEventType } from './approval-state';
import {
  DELIVERY_HEADER,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  signWebhook,
} from './webhook-signature';

/** Steps that notify: the ones a person may need to act on or know about now. */
const NOTIFIED: ReadonlySet<ApprovalEventType> = new Set<ApprovalEventType>([
  'approval.requested',
  'approval.granted',
  'approval.denied',
  'approval.expired',
  'approval.breakglass',
]);

/** Deliveries waiting or retrying at once; beyond this new ones are dropped (and logged). */
const MAX_IN_FLIGHT = 1000;

/**
 * The JSON a webhook receives. It names what is approved and where, never a
 * credential, parameter value or the code itself: receivers are chat and paging
 * tools, and the approver reads the rest at `link` with their own token.
 */
export interface ApprovalNotification {
  /** Delivery id: the same on every retry, so receivers can dedupe. */
  readonly id: string;
  readonly type: ApprovalEventType;
  readonly time: string;
  readonly approval: {
    readonly id: string;
    readonly state: string;
    readonly session: string;
    readonly runbook: { readonly id: string; readonly version: string };
    readonly cell: { readonly id: string; readonly sha256: string };
    readonly environment: string;
    readonly targets: readonly string[];
    readonly reason: string;
    readonly incident: string | null;
    readonly requester: { readonly sub: string; readonly name: string };
    readonly breakglass: boolean;
    readonly severity: 'info' | 'critical';
    readonly approvals?: number;
    readonly quorum: number;
    readonly expires_at: string;
    readonly use_by: string | null;
  };
  /** Who took the step; absent when the gateway did (expiry). */
  readonly actor?: { readonly sub: string; readonly name: string };
  readonly comment?: string;
  /** API path of the approval view. */
  readonly link: string;
}

export function notificationOf(event: ApprovalEvent, id: string, now: Date): ApprovalNotification {
  const a = event.approval;
  return {
    id,
    type: event.type,
    time: now.toISOString(),
    approval: {
      id: a.id,
      state: a.state,
      session: a.sessionId,
      runbook: a.runbook,
      cell: { id: a.cell.id, sha256: a.cell.sha256 },
      environment: a.environment,
      targets: a.targets,
      reason: a.reason,
      incident: a.incident,
      requester: { sub: a.requester.sub, name: a.requester.name },
      breakglass: a.breakglass,
      severity: a.severity,
      ...(event.approvals !== undefined ? { approvals: event.approvals } : {}),
      quorum: Math.max(a.quorum.approvers, a.quorum.distinctGroups.length),
      expires_at: a.expiresAt.toISOString(),
      use_by: a.useBy?.toISOString() ?? null,
    },
    ...(event.actor !== null ? { actor: { sub: event.actor.sub, name: event.actor.name } } : {}),
    ...(event.comment !== undefined ? { comment: event.comment } : {}),
    link: `/v1/approvals/${a.id}`,
  };
}

/** What became of one notification (for logs and tests). */
export interface DeliveryResult {
  readonly id: string;
  readonly type: ApprovalEventType;
  readonly ok: boolean;
  readonly attempts: number;
  readonly error?: string;
}

/**
 * Posts approval notifications to the configured webhook, signed (see
 * webhook-signature.ts), after the step committed and off the request path: a slow
 * or dead receiver delays nothing. Failures are retried with exponential backoff
 * and jitter, a bounded number of times; 4xx answers other than 408 and 429 are not
 * retried. Deliveries live in memory: those in flight when the gateway stops are lost.
 */
@Injectable()
export class ApprovalWebhook implements OnApplicationShutdown {
  private readonly logger = new Logger(ApprovalWebhook.name);
  private readonly settings: ApprovalWebhookConfig | undefined;
  private readonly inFlight = new Set<Promise<DeliveryResult>>();
  private readonly stopping = new AbortController();
  private readonly listeners = new Set<(r: DeliveryResult) => void>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.settings = config.approvals.webhook;
  }

  get enabled(): boolean {
    return this.settings !== undefined;
  }

  /** Queues a notification for a committed step; returns at once. */
  notify(event: ApprovalEvent): void {
    const settings = this.settings;
    if (settings === undefined || !NOTIFIED.has(event.type)) return;
    if (this.inFlight.size >= MAX_IN_FLIGHT) {
      this.logger.error(
        `dropped the ${event.type} notification of approval ${event.approval.id}: too many deliveries pending`,
      );
      return;
    }
    const body = JSON.stringify(notificationOf(event, randomUUID(), new Date()));
    const delivery = this.deliver(settings, event, body);
    this.inFlight.add(delivery);
    void delivery.then((result) => {
      this.inFlight.delete(delivery);
      for (const listener of this.listeners) listener(result);
    });
  }

  /** Calls `listener` with the outcome of every notification; returns an unsubscribe function. */
  onDelivery(listener: (r: DeliveryResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the deliveries in flight now (retries included). */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  /** Stops retrying; a last attempt still in progress finishes. */
  onApplicationShutdown(): void {
    this.stopping.abort();
  }

  private async deliver(
    settings: ApprovalWebhookConfig,
    event: ApprovalEvent,
    body: string,
  ): Promise<DeliveryResult> {
    const id = (JSON.parse(body) as { id: string }).id;
    const policy: BackoffPolicy = {
      initialMs: settings.initialBackoffMs,
      maxMs: settings.maxBackoffMs,
      multiplier: 2,
      jitter: 0.5,
    };
    let attempts = 0;
    try {
      await retry(
        async (attempt) => {
          attempts = attempt;
          await this.post(settings, id, body);
        },
        {
          maxAttempts: settings.maxAttempts,
          policy,
          signal: this.stopping.signal,
          onRetry: (err, attempt, delayMs) =>
            this.logger.warn(
              `approval webhook attempt ${attempt} for ${event.type} ${event.approval.id} failed (${describeError(err)}); retrying in ${delayMs} ms`,
            ),
        },
      );
      return { id, type: event.type, ok: true, attempts };
    } catch (err) {
      this.logger.error(
        `approval webhook gave up on ${event.type} ${event.approval.id} after ${attempts} attempt(s): ${describeError(err)}`,
      );
      return { id, type: event.type, ok: false, attempts, error: describeError(err) };
    }
  }

  private async post(settings: ApprovalWebhookConfig, id: string, body: string): Promise<void> {
    // Signed per attempt: a late retry carries a fresh timestamp and still passes a
    // receiver's replay window.
    const timestamp = Math.floor(Date.now() / 1000);
    const secret = readSecret(settings.secret);
    let response: Response;
    try {
      response = await fetch(settings.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'rungate-approvals',
          [DELIVERY_HEADER]: id,
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        },
        body,
        // A redirect would send the body somewhere nobody configured.
        redirect: 'manual',
        signal: AbortSignal.timeout(settings.timeoutMs),
      });
    } catch (err) {
      // Network errors and timeouts: the receiver may be back soon.
      throw new InfrastructureError(`webhook unreachable: ${describeError(err)}`, true, {
        cause: err,
      });
    }
    await response.arrayBuffer().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return;
    const retriable = response.status === 408 || response.status === 429 || response.status >= 500;
    throw new InfrastructureError(`webhook answered ${response.status}`, retriable);
  }
}

function readSecret(secret: ApprovalWebhookConfig['secret']): string {
  if ('value' in secret) return secret.value;
  try {
    return readFileSync(secret.file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new InfrastructureError(
      `the webhook secret file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      true,
    );
  }
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
  return code !== undefined ? `${err.message} (${code})` : err.message;
}
