import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { backoffDelay, classifyError, type BackoffPolicy } from '../audit/retry';
import { InfrastructureError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig, ApprovalWebhookConfig } from '../config/config.types';
import type { Queryable } from '../db/database';
import type { ApprovalEvent } from './approval-audit';
import { approvalPageUrl, chatMessageOf, type ChatMessage } from './approval-message';
import {
  ApprovalNotificationsRepository,
  type ClaimedNotification,
} from './approval-notifications.repository';
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

/** Attempts one process runs at once; the rest wait in the outbox. */
const MAX_CONCURRENT = 16;

/**
 * How often the outbox is polled. Commits wake the sender at once and short retry
 * delays set their own timer; polling finds what another process left behind
 * (a replica, or the process before a restart) and retries due after a long backoff.
 */
const NOTIFICATION_POLL_MS = 500;

/** How much longer than the per-attempt timeout a claim holds a row. */
const LEASE_MARGIN_MS = 10_000;

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
  /** The approval's page in the web app, where people decide (after a recent sign-in). */
  readonly page: string;
  /** The same step as a ready chat message (Slack's incoming-webhook shape). */
  readonly message: ChatMessage;
}

/** The webhook body of one step; `page` is the approval's page in the web app. */
export function notificationOf(
  event: ApprovalEvent,
  id: string,
  now: Date,
  page: string,
): ApprovalNotification {
  const a = event.approval;
  const quorum = Math.max(a.quorum.approvers, a.quorum.distinctGroups.length);
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
      quorum,
      expires_at: a.expiresAt.toISOString(),
      use_by: a.useBy?.toISOString() ?? null,
    },
    ...(event.actor !== null ? { actor: { sub: event.actor.sub, name: event.actor.name } } : {}),
    ...(event.comment !== undefined ? { comment: event.comment } : {}),
    link: `/v1/approvals/${a.id}`,
    page,
    message: chatMessageOf({
      type: event.type,
      approvalId: a.id,
      runbook: a.runbook.id,
      cell: a.cell.id,
      environment: a.environment,
      requester: a.requester.name,
      reason: a.reason,
      incident: a.incident,
      ...(event.approvals !== undefined && { approvals: event.approvals }),
      quorum,
      ...(event.actor !== null && { actor: event.actor.name }),
      ...(event.comment !== undefined && { comment: event.comment }),
      page,
    }),
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
 * Approval notifications through a transactional outbox. {@link enqueue} writes the
 * signed-to-be JSON into `approval_notifications` in the transaction of the step it
 * announces; a sender loop (started and stopped with the application) claims due
 * rows, POSTs them signed (see webhook-signature.ts) off the request path, and marks
 * them delivered, or schedules the next attempt with exponential backoff and jitter,
 * or gives up after the configured attempts (4xx answers other than 408 and 429 are
 * not retried). Rows outlive the process: what a stopped gateway left undelivered,
 * the next one sends, with the same delivery id. Delivery is at least once.
 */
@Injectable()
export class ApprovalWebhook implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ApprovalWebhook.name);
  private readonly settings: ApprovalWebhookConfig | undefined;
  private readonly policy: BackoffPolicy | undefined;
  private readonly listeners = new Set<(r: DeliveryResult) => void>();
  /** Attempts running now. */
  private readonly sending = new Set<Promise<void>>();
  /** Wake-ups for retries due before the next poll. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private poller: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  /** A wake-up arrived while polling: poll once more afterwards. */
  private pollAgain = false;
  /** The last poll stopped for lack of room: an attempt that ends polls again. */
  private saturated = false;
  private running = false;
  /** One function, so a transaction that writes many rows wakes the sender once. */
  private readonly wakeOnCommit = (): void => this.kick();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly outbox: ApprovalNotificationsRepository,
  ) {
    this.settings = config.approvals.webhook;
    this.policy =
      this.settings === undefined
        ? undefined
        : {
            initialMs: this.settings.initialBackoffMs,
            maxMs: this.settings.maxBackoffMs,
            multiplier: 2,
            jitter: 0.5,
          };
  }

  get enabled(): boolean {
    return this.settings !== undefined;
  }

  /**
   * Writes the notification of a step in the step's own transaction, so it exists
   * exactly when the step committed, and sends it as soon as that transaction
   * commits rather than at the next poll. Nothing without a webhook URL, nor for
   * steps that do not notify.
   */
  async enqueue(tx: Queryable, event: ApprovalEvent): Promise<void> {
    if (this.settings === undefined || !NOTIFIED.has(event.type)) return;
    const id = randomUUID();
    const notification = notificationOf(
      event,
      id,
      new Date(),
      approvalPageUrl(this.config, event.approval.id),
    );
    await this.outbox.insert(tx, {
      id,
      approvalId: event.approval.id,
      type: event.type,
      // A Slack incoming webhook takes the message alone; other receivers get everything.
      body: JSON.stringify(this.settings.format === 'slack' ? notification.message : notification),
    });
    tx.afterCommit(this.wakeOnCommit);
  }

  /** Calls `listener` with the outcome of every notification; returns an unsubscribe function. */
  onDelivery(listener: (r: DeliveryResult) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the poll and the attempts running now (not for later retries). */
  async drain(): Promise<void> {
    await this.polling;
    await Promise.all([...this.sending]);
  }

  onApplicationBootstrap(): void {
    if (this.settings === undefined) return;
    this.running = true;
    this.poller = setInterval(() => this.kick(), NOTIFICATION_POLL_MS);
    this.poller.unref();
    // Whatever a previous process left undelivered goes out now.
    this.kick();
  }

  /**
   * Stops polling and lets attempts in progress finish (each is bounded by the
   * timeout), while the database is still open to record their outcome: rows left
   * due wait for the next start.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.running = false;
    if (this.poller !== undefined) clearInterval(this.poller);
    this.poller = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.drain();
  }

  private kick(): void {
    const settings = this.settings;
    if (!this.running || settings === undefined) return;
    if (this.polling !== undefined) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.poll(settings)
      .catch((err: unknown) =>
        this.logger.warn(
          `approval notifications: polling the outbox failed: ${describeError(err)}`,
        ),
      )
      .finally(() => {
        this.polling = undefined;
        if (this.pollAgain) {
          this.pollAgain = false;
          this.kick();
        }
      });
  }

  /** Claims due rows while there is room, and starts an attempt for each. */
  private async poll(settings: ApprovalWebhookConfig): Promise<void> {
    while (this.running) {
      const room = MAX_CONCURRENT - this.sending.size;
      if (room <= 0) {
        this.saturated = true;
        return;
      }
      const claimed = await this.outbox.claimDue(room, settings.timeoutMs + LEASE_MARGIN_MS);
      // Claimed rows are leased and counted: they get their attempt even if stopping began.
      for (const n of claimed) {
        const attempt: Promise<void> = this.attempt(settings, n).finally(() => {
          this.sending.delete(attempt);
          if (this.saturated) {
            this.saturated = false;
            this.kick();
          }
        });
        this.sending.add(attempt);
      }
      if (claimed.length < room) return;
    }
  }

  /** One attempt of one claimed notification, and its outcome recorded. */
  private async attempt(settings: ApprovalWebhookConfig, n: ClaimedNotification): Promise<void> {
    try {
      try {
        await this.post(settings, n.id, n.body);
      } catch (err) {
        await this.failed(settings, n, err);
        return;
      }
      await this.outbox.markDelivered(n.id);
      this.report({ id: n.id, type: n.type, ok: true, attempts: n.attempts });
    } catch (err) {
      // Recording the outcome failed: the lease runs out and the row is tried again
      // (receivers dedupe by delivery id).
      this.logger.warn(
        `approval notifications: could not record the attempt on delivery ${n.id}: ${describeError(err)}`,
      );
    }
  }

  private async failed(
    settings: ApprovalWebhookConfig,
    n: ClaimedNotification,
    err: unknown,
  ): Promise<void> {
    const error = describeError(err);
    if (classifyError(err) === 'permanent' || n.attempts >= settings.maxAttempts) {
      await this.outbox.markGaveUp(n.id, error);
      this.logger.error(
        `approval webhook gave up on ${n.type} ${n.approvalId} (delivery ${n.id}) after ${n.attempts} attempt(s): ${error}`,
      );
      this.report({ id: n.id, type: n.type, ok: false, attempts: n.attempts, error });
      return;
    }
    const delayMs = backoffDelay(n.attempts, this.policy);
    await this.outbox.scheduleRetry(n.id, error, delayMs);
    this.logger.warn(
      `approval webhook attempt ${n.attempts} for ${n.type} ${n.approvalId} failed (${error}); retrying in ${delayMs} ms`,
    );
    if (delayMs < NOTIFICATION_POLL_MS && this.running) {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.kick();
      }, delayMs);
      timer.unref();
      this.timers.add(timer);
    }
  }

  private report(result: DeliveryResult): void {
    for (const listener of this.listeners) listener(result);
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
      // Network errors and timeouts: the receiver may be back soon. The message names
      // only the error code: fetch's own messages may quote the URL, which can hold a token.
      throw new InfrastructureError(`webhook unreachable (${fetchFailure(err)})`, true, {
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

/** Why fetch failed, as an error code or name only. */
function fetchFailure(err: unknown): string {
  if (!(err instanceof Error)) return 'error';
  if (err.name === 'TimeoutError') return 'timed out';
  const cause = (err as { cause?: unknown }).cause;
  const code = cause instanceof Error ? (cause as NodeJS.ErrnoException).code : undefined;
  return code ?? err.name;
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  // Errno names only (ECONNREFUSED): a DOMException's `code` is a legacy number.
  const code = cause instanceof Error ? (cause as { code?: unknown }).code : undefined;
  return typeof code === 'string' && !err.message.includes(code)
    ? `${err.message} (${code})`
    : err.message;
}
