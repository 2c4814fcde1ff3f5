/** Data shapes of the demo-shop service (its JSON API; snake_case like a typical Python-facing API). */

export type OrderStatus = 'pending_payment' | 'paid' | 'shipped' | 'payment_failed' | 'refunded';
export type PaymentOutcome = 'succeeded' | 'declined' | 'timeout' | 'error';
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';

export interface PaymentAttempt {
  at: string;
  provider: string;
  outcome: PaymentOutcome;
  latency_ms: number;
  error: string | null;
}

export interface Order {
  id: string;
  customer_email: string;
  status: OrderStatus;
  total_cents: number;
  currency: string;
  items: number;
  payment_provider: string;
  created_at: string;
  updated_at: string;
  payment_attempts: PaymentAttempt[];
}

export interface Job {
  id: string;
  queue: string;
  kind: string;
  state: JobState;
  attempts: number;
  payload: Record<string, string>;
  enqueued_at: string;
  started_at: string | null;
  heartbeat_at: string | null;
  last_error: string | null;
  /** Computed: running with no heartbeat for longer than the stuck threshold. */
  stuck: boolean;
}

export interface ErrorEvent {
  at: string;
  endpoint: string;
  status: number;
  error: string;
  message: string;
  trace_id: string;
  order_id: string | null;
  customer_email: string | null;
}

export interface FeatureFlag {
  name: string;
  enabled: boolean;
  rollout_percent: number;
  description: string;
  updated_at: string;
  updated_by: string;
}
