import type {
  ErrorEvent,
  FeatureFlag,
  Job,
  JobState,
  Order,
  OrderStatus,
  PaymentAttempt,
  PaymentOutcome,
} from './demo-shop.types';

/**
 * The simulated state of "demo-shop", a production web shop in the middle of an
 * incident: its main payment provider (payfast) has been slow for the last
 * {@link INCIDENT_MINUTES} minutes, checkouts time out, payment-capture jobs hang,
 * a cache change lowered the hit rate and one database replica lags.
 *
 * Data comes from a seeded generator, so every start looks the same. Times are kept
 * as "milliseconds before now" and rendered against the clock at each request, so the
 * incident is always recent however long the process has been running.
 */

export const INCIDENT_MINUTES = 25;
const HISTORY_MINUTES = 180;

const PROVIDERS = [
  { name: 'payfast', share: 0.6, p50: 180, p95: 420 },
  { name: 'cardstream', share: 0.3, p50: 240, p95: 610 },
  { name: 'walletpay', share: 0.1, p50: 150, p95: 380 },
] as const;

const ENDPOINTS = [
  { name: 'POST /api/checkout', rpm: 40, errorRate: 0.004, p50: 310, p95: 900 },
  { name: 'GET /api/products', rpm: 900, errorRate: 0.0005, p50: 22, p95: 70 },
  { name: 'GET /api/cart', rpm: 300, errorRate: 0.001, p50: 30, p95: 95 },
  { name: 'POST /api/cart/items', rpm: 120, errorRate: 0.002, p50: 45, p95: 140 },
  { name: 'GET /api/orders/{id}', rpm: 80, errorRate: 0.001, p50: 35, p95: 110 },
  { name: 'POST /api/login', rpm: 60, errorRate: 0.003, p50: 120, p95: 330 },
] as const;

const FIRST = [
  'ada',
  'grace',
  'alan',
  'edsger',
  'barbara',
  'ken',
  'margaret',
  'linus',
  'radia',
  'donald',
  'frances',
  'john',
  'hedy',
  'dennis',
  'sophie',
  'tim',
];
const LAST = [
  'lovelace',
  'hopper',
  'turing',
  'dijkstra',
  'liskov',
  'thompson',
  'hamilton',
  'torvalds',
  'perlman',
  'knuth',
  'allen',
  'backus',
  'lamarr',
  'ritchie',
  'wilson',
  'berners-lee',
];

/** Deterministic PRNG (mulberry32): small, fast, good enough for plausible fake data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A time relative to the clock, or an absolute one once something happened in this process. */
type When = { agoMs: number } | { atMs: number };

interface MinuteStat {
  requests: number;
  errors: number;
  p50: number;
  p95: number;
}

interface ProviderMinute {
  attempts: number;
  timeouts: number;
  errors: number;
  p50: number;
  p95: number;
  p99: number;
}

interface StoredOrder extends Omit<Order, 'created_at' | 'updated_at' | 'payment_attempts'> {
  created: When;
  attempts: Array<Omit<PaymentAttempt, 'at'> & { at: When }>;
}

interface StoredJob extends Omit<Job, 'enqueued_at' | 'started_at' | 'heartbeat_at' | 'stuck'> {
  enqueued: When;
  started: When | null;
  heartbeat: When | null;
}

interface StoredError extends Omit<ErrorEvent, 'at'> {
  agoMs: number;
}

interface StoredFlag extends Omit<FeatureFlag, 'updated_at'> {
  updated: When;
}

/** A problem with a request the shop refuses, mapped to an HTTP status by the server. */
export class ShopError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class DemoShop {
  private readonly endpointMinutes = new Map<string, MinuteStat[]>();
  private readonly providerMinutes = new Map<string, ProviderMinute[]>();
  private readonly orders: StoredOrder[] = [];
  private readonly jobs: StoredJob[] = [];
  private readonly errors: StoredError[] = [];
  private readonly flags = new Map<string, StoredFlag>();
  private cache = {
    hits: 0,
    misses: 0,
    keys: 0,
    memoryMb: 0,
    evictionsLastHour: 0,
    flushed: null as When | null,
  };

  constructor(
    private readonly now: () => number = Date.now,
    seed = 20240611,
  ) {
    const rnd = prng(seed);
    this.generateMetrics(rnd);
    this.generateOrders(rnd);
    this.generateJobs(rnd);
    this.generateErrors(rnd);
    this.generateFlags();
    this.cache = {
      hits: 1_812_400,
      misses: 742_300,
      keys: 48_210,
      memoryMb: 1_930,
      evictionsLastHour: 96_400,
      flushed: null,
    };
  }

  // ---- generation ---------------------------------------------------------

  private generateMetrics(rnd: () => number): void {
    const jitter = (v: number, spread = 0.15) => Math.round(v * (1 - spread + 2 * spread * rnd()));
    for (const p of PROVIDERS) {
      const minutes: ProviderMinute[] = [];
      for (let m = 0; m < HISTORY_MINUTES; m += 1) {
        const degraded = p.name === 'payfast' && m < INCIDENT_MINUTES;
        const attempts = Math.max(1, jitter(ENDPOINTS[0].rpm * p.share));
        const timeoutRate = degraded ? 0.18 + 0.1 * rnd() : 0.002;
        const timeouts = Math.round(attempts * timeoutRate);
        const errors = Math.round(attempts * (degraded ? 0.03 : 0.003) + (rnd() < 0.2 ? 1 : 0));
        const p50 = degraded ? jitter(2600) : jitter(p.p50);
        const p95 = degraded ? jitter(7800, 0.08) : jitter(p.p95);
        minutes.push({
          attempts,
          timeouts,
          errors,
          p50,
          p95,
          p99: degraded ? 10_000 : jitter(p.p95 * 1.6),
        });
      }
      this.providerMinutes.set(p.name, minutes);
    }
    for (const e of ENDPOINTS) {
      const minutes: MinuteStat[] = [];
      for (let m = 0; m < HISTORY_MINUTES; m += 1) {
        const requests = jitter(e.rpm);
        let errors = Math.round(requests * e.errorRate + (rnd() < 0.3 ? 1 : 0));
        let p50 = jitter(e.p50);
        let p95 = jitter(e.p95);
        if (e.name === 'POST /api/checkout' && m < INCIDENT_MINUTES) {
          const payfast = (this.providerMinutes.get('payfast') as ProviderMinute[])[m];
          errors += payfast.timeouts + payfast.errors;
          p50 = jitter(1900);
          p95 = jitter(8200, 0.05);
        }
        minutes.push({ requests, errors: Math.min(errors, requests), p50, p95 });
      }
      this.endpointMinutes.set(e.name, minutes);
    }
  }

  private customerEmail(i: number): string {
    return `${FIRST[i % FIRST.length]}.${LAST[(i * 7) % LAST.length]}@example.com`;
  }

  private generateOrders(rnd: () => number): void {
    const minuteMs = 60_000;
    // 300 orders over the day before the incident, then 150 during it; oldest first so
    // ids grow with time like a real sequence.
    const history = 300;
    const recent = 150;
    for (let i = 0; i < history + recent; i += 1) {
      const agoMs =
        i < history
          ? Math.round(
              INCIDENT_MINUTES * minuteMs + (history - i) * 4.7 * minuteMs - rnd() * 2 * minuteMs,
            )
          : Math.round(
              (history + recent - i) * (INCIDENT_MINUTES / recent) * minuteMs - rnd() * 5_000,
            );
      const inIncident = agoMs < INCIDENT_MINUTES * minuteMs;
      const r = rnd();
      const provider = r < 0.6 ? 'payfast' : r < 0.9 ? 'cardstream' : 'walletpay';
      const attempts: StoredOrder['attempts'] = [];
      let status: OrderStatus;
      const attempt = (
        offset: number,
        outcome: PaymentOutcome,
        latency: number,
        error: string | null,
      ) =>
        attempts.push({
          at: { agoMs: Math.max(0, agoMs - offset) },
          provider,
          outcome,
          latency_ms: latency,
          error,
        });
      if (inIncident && provider === 'payfast' && rnd() < 0.45) {
        attempt(2_000, 'timeout', 5_000, 'payfast did not answer within 5000 ms');
        if (rnd() < 0.5) attempt(40_000, 'timeout', 5_000, 'payfast did not answer within 5000 ms');
        status = 'pending_payment';
      } else if (rnd() < 0.04) {
        attempt(
          2_000,
          'declined',
          300 + Math.round(400 * rnd()),
          'card_declined: insufficient_funds',
        );
        status = 'payment_failed';
      } else {
        attempt(
          2_000,
          'succeeded',
          inIncident && provider === 'payfast'
            ? 2_000 + Math.round(3_000 * rnd())
            : 120 + Math.round(500 * rnd()),
          null,
        );
        const age = agoMs / minuteMs;
        status = age > 600 && rnd() < 0.8 ? 'shipped' : rnd() < 0.02 ? 'refunded' : 'paid';
      }
      this.orders.push({
        id: `ord_${100_001 + i}`,
        customer_email: this.customerEmail(Math.floor(rnd() * 48)),
        status,
        total_cents: 990 + Math.round(rnd() * 24_000),
        currency: 'EUR',
        items: 1 + Math.floor(rnd() * 5),
        payment_provider: provider,
        created: { agoMs },
        attempts,
      });
    }
  }

  private generateJobs(rnd: () => number): void {
    const minuteMs = 60_000;
    let n = 0;
    const add = (
      queue: string,
      kind: string,
      state: JobState,
      agoMs: number,
      extra: Partial<StoredJob> = {},
    ) => {
      n += 1;
      this.jobs.push({
        id: `job_${String(n).padStart(5, '0')}`,
        queue,
        kind,
        state,
        attempts: 1,
        payload: {},
        enqueued: { agoMs },
        started: state === 'queued' ? null : { agoMs: Math.max(0, agoMs - 2_000) },
        heartbeat: state === 'running' ? { agoMs: 3_000 } : null,
        last_error: null,
        ...extra,
      });
    };
    // payment-capture: one job per order of the last 90 minutes. A worker died about
    // 25-45 minutes ago holding eight of them (stuck); payfast timeouts failed others.
    let stuck = 0;
    for (const order of this.orders) {
      const agoMs = (order.created as { agoMs: number }).agoMs;
      if (agoMs > 90 * minuteMs) continue;
      const payload = { order_id: order.id };
      if (order.status === 'pending_payment') {
        add('payment-capture', 'capture_payment', 'failed', agoMs - 1_000, {
          payload,
          attempts: 3,
          last_error: 'PaymentProviderTimeout: payfast did not answer within 5000 ms',
        });
      } else if (
        order.status === 'paid' &&
        agoMs > 26 * minuteMs &&
        agoMs < 45 * minuteMs &&
        stuck < 8 &&
        rnd() < 0.7
      ) {
        stuck += 1;
        add('payment-capture', 'capture_payment', 'running', agoMs - 1_000, {
          payload,
          heartbeat: { agoMs: agoMs - 20_000 - Math.floor(rnd() * 30_000) },
        });
      } else if (
        order.status === 'paid' ||
        order.status === 'payment_failed' ||
        order.status === 'refunded'
      ) {
        add(
          'payment-capture',
          'capture_payment',
          agoMs < 40_000 ? 'queued' : 'succeeded',
          agoMs - 1_000,
          { payload },
        );
      }
    }
    for (let i = 0; i < 30; i += 1) {
      const agoMs = Math.round(rnd() * 90 * minuteMs);
      add('email', 'send_receipt', agoMs < minuteMs ? 'queued' : 'succeeded', agoMs, {
        payload: { template: 'receipt' },
      });
    }
    for (let i = 0; i < 12; i += 1) {
      const agoMs = Math.round(rnd() * 60 * minuteMs);
      add('inventory-sync', 'sync_stock', i === 0 ? 'running' : 'succeeded', agoMs, {
        payload: { warehouse: `wh-${1 + (i % 3)}` },
      });
    }
    for (let i = 0; i < 2; i += 1) {
      add('webhooks', 'deliver_webhook', 'running', (50 + i * 7) * minuteMs, {
        payload: { endpoint: 'https://partner.example.net/hooks/orders' },
        heartbeat: { agoMs: (45 + i * 7) * minuteMs },
        attempts: 2,
        last_error: 'ReadTimeout: partner.example.net did not answer within 30 s',
      });
    }
  }

  private generateErrors(rnd: () => number): void {
    const recentPayfastOrders = this.orders.filter((o) => o.status === 'pending_payment');
    for (const e of ENDPOINTS) {
      const minutes = this.endpointMinutes.get(e.name) as MinuteStat[];
      minutes.forEach((stat, m) => {
        for (let k = 0; k < stat.errors; k += 1) {
          const agoMs = m * 60_000 + Math.floor(rnd() * 60_000);
          const traceId = Array.from({ length: 32 }, () =>
            Math.floor(rnd() * 16).toString(16),
          ).join('');
          if (e.name === 'POST /api/checkout' && m < INCIDENT_MINUTES && k < stat.errors - 1) {
            // About half the timeouts belong to an order created shortly before; in the
            // others the customer gave up before an order existed.
            const candidates = recentPayfastOrders.filter((o) => {
              const created = (o.created as { agoMs: number }).agoMs;
              return created >= agoMs && created - agoMs < 3 * 60_000;
            });
            const order =
              candidates.length > 0 && rnd() < 0.5
                ? candidates[Math.floor(rnd() * candidates.length)]
                : null;
            this.errors.push({
              agoMs,
              endpoint: e.name,
              status: 504,
              error: 'PaymentProviderTimeout',
              message: 'payfast did not answer within 5000 ms',
              trace_id: traceId,
              order_id: order?.id ?? null,
              customer_email: order?.customer_email ?? null,
            });
          } else {
            const kinds = [
              {
                status: 500,
                error: 'DatabaseError',
                message: 'canceling statement due to statement timeout',
              },
              { status: 502, error: 'UpstreamError', message: 'inventory service answered 503' },
              { status: 500, error: 'KeyError', message: "'shipping_address'" },
            ];
            const kind = kinds[Math.floor(rnd() * kinds.length)];
            this.errors.push({
              agoMs,
              endpoint: e.name,
              ...kind,
              trace_id: traceId,
              order_id: null,
              customer_email: null,
            });
          }
        }
      });
    }
    this.errors.sort((a, b) => a.agoMs - b.agoMs);
  }

  private generateFlags(): void {
    const flags: StoredFlag[] = [
      {
        name: 'new-checkout-flow',
        enabled: true,
        rollout_percent: 50,
        description: 'Single-page checkout (A/B test)',
        updated: { agoMs: 3 * 86_400_000 },
        updated_by: 'maria.checkout',
      },
      {
        name: 'pricing-cache-v2',
        enabled: true,
        rollout_percent: 100,
        description: 'New cache keys for price lookups (per currency and segment)',
        updated: { agoMs: 41 * 60_000 },
        updated_by: 'deploy-bot',
      },
      {
        name: 'payfast-fallback-to-cardstream',
        enabled: false,
        rollout_percent: 100,
        description: 'Route card payments to cardstream when payfast is degraded',
        updated: { agoMs: 12 * 86_400_000 },
        updated_by: 'sre-oncall',
      },
      {
        name: 'recommendations-widget',
        enabled: true,
        rollout_percent: 20,
        description: 'Product recommendations on the cart page',
        updated: { agoMs: 6 * 86_400_000 },
        updated_by: 'growth-team',
      },
    ];
    for (const f of flags) this.flags.set(f.name, f);
  }

  // ---- rendering helpers --------------------------------------------------

  private iso(w: When): string {
    return new Date('agoMs' in w ? this.now() - w.agoMs : w.atMs).toISOString();
  }

  private ageMs(w: When): number {
    return 'agoMs' in w ? w.agoMs : this.now() - w.atMs;
  }

  private renderOrder(o: StoredOrder): Order {
    const { created, attempts, ...rest } = o;
    const last = attempts.length > 0 ? attempts[attempts.length - 1].at : created;
    return {
      ...rest,
      created_at: this.iso(created),
      updated_at: this.iso(last),
      payment_attempts: attempts.map((a) => ({ ...a, at: this.iso(a.at) })),
    };
  }

  private renderJob(j: StoredJob, stuckAfterMs: number): Job {
    const { enqueued, started, heartbeat, ...rest } = j;
    return {
      ...rest,
      enqueued_at: this.iso(enqueued),
      started_at: started ? this.iso(started) : null,
      heartbeat_at: heartbeat ? this.iso(heartbeat) : null,
      stuck: j.state === 'running' && heartbeat !== null && this.ageMs(heartbeat) > stuckAfterMs,
    };
  }

  // ---- queries ------------------------------------------------------------

  overview(): Record<string, unknown> {
    const checkout = this.endpointStats(5).find((e) => e.endpoint === 'POST /api/checkout');
    const stuck = this.listJobs({ stuck: true, stuckAfterMinutes: 10 }).length;
    const replicaLag = Math.max(...this.replication().replicas.map((r) => r.lag_seconds));
    return {
      service: 'demo-shop',
      environment: 'prod',
      status: (checkout?.error_rate ?? 0) > 0.05 || stuck > 0 ? 'degraded' : 'ok',
      checkout_error_rate_5m: checkout?.error_rate ?? 0,
      stuck_jobs: stuck,
      cache_hit_rate: this.cacheStats().hit_rate,
      max_replica_lag_seconds: replicaLag,
      generated_at: new Date(this.now()).toISOString(),
    };
  }

  endpointStats(minutes: number): Array<{
    endpoint: string;
    requests: number;
    errors: number;
    error_rate: number;
    p50_ms: number;
    p95_ms: number;
  }> {
    return ENDPOINTS.map((e) => {
      const window = (this.endpointMinutes.get(e.name) as MinuteStat[]).slice(0, minutes);
      const requests = window.reduce((s, m) => s + m.requests, 0);
      const errors = window.reduce((s, m) => s + m.errors, 0);
      return {
        endpoint: e.name,
        requests,
        errors,
        error_rate: requests > 0 ? round(errors / requests, 4) : 0,
        p50_ms: median(window.map((m) => m.p50)),
        p95_ms: Math.max(...window.map((m) => m.p95)),
      };
    });
  }

  endpointSeries(
    endpoint: string,
    minutes: number,
  ): Array<{ minute: string; requests: number; errors: number; p95_ms: number }> {
    const series = this.endpointMinutes.get(endpoint);
    if (!series)
      throw new ShopError(
        404,
        `unknown endpoint ${endpoint}; known: ${ENDPOINTS.map((e) => e.name).join(', ')}`,
      );
    return series
      .slice(0, minutes)
      .map((m, i) => ({
        minute: this.iso({ agoMs: i * 60_000 }).slice(0, 16),
        requests: m.requests,
        errors: m.errors,
        p95_ms: m.p95,
      }))
      .reverse();
  }

  paymentLatency(minutes: number): Array<Record<string, unknown>> {
    return PROVIDERS.map((p) => {
      const window = (this.providerMinutes.get(p.name) as ProviderMinute[]).slice(0, minutes);
      const attempts = window.reduce((s, m) => s + m.attempts, 0);
      const timeouts = window.reduce((s, m) => s + m.timeouts, 0);
      const errors = window.reduce((s, m) => s + m.errors, 0);
      const baseline = (this.providerMinutes.get(p.name) as ProviderMinute[]).slice(60);
      return {
        provider: p.name,
        traffic_share: p.share,
        attempts,
        timeouts,
        errors,
        timeout_rate: attempts > 0 ? round(timeouts / attempts, 4) : 0,
        p50_ms: median(window.map((m) => m.p50)),
        p95_ms: median(window.map((m) => m.p95)),
        p99_ms: Math.max(...window.map((m) => m.p99)),
        baseline_p95_ms: median(baseline.map((m) => m.p95)),
      };
    });
  }

  recentErrors(q: {
    minutes: number;
    endpoint?: string;
    limit: number;
    email?: string;
    orderId?: string;
  }): ErrorEvent[] {
    return this.errors
      .filter((e) => e.agoMs <= q.minutes * 60_000)
      .filter((e) => !q.endpoint || e.endpoint === q.endpoint)
      .filter((e) => !q.email || e.customer_email === q.email)
      .filter((e) => !q.orderId || e.order_id === q.orderId)
      .slice(0, q.limit)
      .map(({ agoMs, ...rest }) => ({ at: this.iso({ agoMs }), ...rest }));
  }

  listOrders(q: {
    email?: string;
    status?: string;
    sinceMinutes: number;
    limit: number;
    provider?: string;
  }): Order[] {
    return this.orders
      .filter((o) => this.ageMs(o.created) <= q.sinceMinutes * 60_000)
      .filter((o) => !q.email || o.customer_email === q.email.toLowerCase())
      .filter((o) => !q.status || o.status === q.status)
      .filter((o) => !q.provider || o.payment_provider === q.provider)
      .sort((a, b) => this.ageMs(a.created) - this.ageMs(b.created))
      .slice(0, q.limit)
      .map((o) => this.renderOrder(o));
  }

  getOrder(id: string): Order & { jobs: Job[] } {
    const order = this.orders.find((o) => o.id === id);
    if (!order) throw new ShopError(404, `no order ${id}`);
    const jobs = this.jobs
      .filter((j) => j.payload.order_id === id)
      .map((j) => this.renderJob(j, 10 * 60_000));
    return { ...this.renderOrder(order), jobs };
  }

  customer(email: string): Record<string, unknown> {
    const orders = this.orders.filter((o) => o.customer_email === email.toLowerCase());
    if (orders.length === 0) throw new ShopError(404, `no customer ${email}`);
    const [first, last] = email.split('@')[0].split('.');
    return {
      email: email.toLowerCase(),
      name: `${cap(first)} ${cap(last ?? '')}`.trim(),
      orders: orders.length,
      lifetime_value_cents: orders
        .filter((o) => o.status === 'paid' || o.status === 'shipped')
        .reduce((s, o) => s + o.total_cents, 0),
      last_order_at: this.iso(
        orders.reduce((a, b) => (this.ageMs(a.created) < this.ageMs(b.created) ? a : b)).created,
      ),
    };
  }

  queues(stuckAfterMinutes: number): Array<Record<string, unknown>> {
    const names = [...new Set(this.jobs.map((j) => j.queue))];
    const stuckMs = stuckAfterMinutes * 60_000;
    return names.map((queue) => {
      const jobs = this.jobs
        .filter((j) => j.queue === queue)
        .map((j) => this.renderJob(j, stuckMs));
      const queued = this.jobs.filter((j) => j.queue === queue && j.state === 'queued');
      return {
        queue,
        queued: queued.length,
        running: jobs.filter((j) => j.state === 'running' && !j.stuck).length,
        stuck: jobs.filter((j) => j.stuck).length,
        failed: jobs.filter((j) => j.state === 'failed').length,
        succeeded: jobs.filter((j) => j.state === 'succeeded').length,
        oldest_queued_age_seconds:
          queued.length > 0
            ? Math.round(Math.max(...queued.map((j) => this.ageMs(j.enqueued))) / 1000)
            : 0,
      };
    });
  }

  listJobs(q: {
    queue?: string;
    state?: string;
    stuck?: boolean;
    stuckAfterMinutes: number;
    limit?: number;
  }): Job[] {
    return this.jobs
      .map((j) => this.renderJob(j, q.stuckAfterMinutes * 60_000))
      .filter((j) => !q.queue || j.queue === q.queue)
      .filter((j) => !q.state || j.state === q.state)
      .filter((j) => q.stuck === undefined || j.stuck === q.stuck)
      .slice(0, q.limit ?? 500);
  }

  getJob(id: string): Job {
    const job = this.jobs.find((j) => j.id === id);
    if (!job) throw new ShopError(404, `no job ${id}`);
    return this.renderJob(job, 10 * 60_000);
  }

  cacheStats(): {
    hit_rate: number;
    hits: number;
    misses: number;
    keys: number;
    memory_mb: number;
    evictions_last_hour: number;
    last_flush_at: string | null;
    by_prefix: Array<Record<string, unknown>>;
  } {
    const c = this.cache;
    return {
      hit_rate: c.hits + c.misses > 0 ? round(c.hits / (c.hits + c.misses), 4) : 0,
      hits: c.hits,
      misses: c.misses,
      keys: c.keys,
      memory_mb: c.memoryMb,
      evictions_last_hour: c.evictionsLastHour,
      last_flush_at: c.flushed ? this.iso(c.flushed) : null,
      by_prefix: [
        { prefix: 'price:v2:', keys: Math.round(c.keys * 0.62), hit_rate: c.flushed ? 0 : 0.41 },
        { prefix: 'product:', keys: Math.round(c.keys * 0.25), hit_rate: c.flushed ? 0 : 0.97 },
        { prefix: 'session:', keys: Math.round(c.keys * 0.13), hit_rate: c.flushed ? 0 : 0.99 },
      ],
    };
  }

  listFlags(): FeatureFlag[] {
    return [...this.flags.values()].map(({ updated, ...f }) => ({
      ...f,
      updated_at: this.iso(updated),
    }));
  }

  replication(): {
    primary: string;
    replicas: Array<{
      name: string;
      region: string;
      state: string;
      lag_seconds: number;
      lag_bytes: number;
      last_replay_at: string;
    }>;
  } {
    const minute = Math.floor(this.now() / 60_000);
    // replica-2 has fallen behind and keeps drifting a little, like a replica replaying a long transaction.
    const lag2 = 47 + (minute % 5) * 3;
    const row = (name: string, region: string, lag: number, bytes: number) => ({
      name,
      region,
      state: 'streaming',
      lag_seconds: lag,
      lag_bytes: bytes,
      last_replay_at: this.iso({ agoMs: Math.round(lag * 1000) }),
    });
    return {
      primary: 'shop-db-1',
      replicas: [
        row('shop-db-2', 'eu-west-1a', 0.4, 12_288),
        row('shop-db-3', 'eu-west-1b', lag2, 734_003_200),
        row('shop-db-4', 'us-east-1a', 1.2, 65_536),
      ],
    };
  }

  // ---- writes (elevated credential only; the server checks) ----------------

  retryJob(id: string): Job {
    const job = this.jobs.find((j) => j.id === id);
    if (!job) throw new ShopError(404, `no job ${id}`);
    const view = this.renderJob(job, 10 * 60_000);
    if (!(view.stuck || job.state === 'failed')) {
      throw new ShopError(
        409,
        `job ${id} is ${job.state}${job.state === 'running' ? ' and healthy' : ''}; only stuck or failed jobs can be retried`,
      );
    }
    job.state = 'queued';
    job.attempts += 1;
    job.enqueued = { atMs: this.now() };
    job.started = null;
    job.heartbeat = null;
    return this.renderJob(job, 10 * 60_000);
  }

  retryStuck(
    queue: string | undefined,
    stuckAfterMinutes: number,
  ): { retried: string[]; count: number } {
    const ids = this.listJobs({ queue, stuck: true, stuckAfterMinutes }).map((j) => j.id);
    for (const id of ids) {
      const job = this.jobs.find((j) => j.id === id) as StoredJob;
      job.state = 'queued';
      job.attempts += 1;
      job.enqueued = { atMs: this.now() };
      job.started = null;
      job.heartbeat = null;
    }
    return { retried: ids, count: ids.length };
  }

  flushCache(prefix: string | undefined): { flushed_keys: number; prefix: string | null } {
    const share =
      prefix === undefined
        ? 1
        : prefix.startsWith('price:')
          ? 0.62
          : prefix.startsWith('product:')
            ? 0.25
            : prefix.startsWith('session:')
              ? 0.13
              : 0;
    const flushed = Math.round(this.cache.keys * share);
    this.cache = {
      ...this.cache,
      keys: this.cache.keys - flushed,
      hits: 0,
      misses: 0,
      flushed: { atMs: this.now() },
    };
    return { flushed_keys: flushed, prefix: prefix ?? null };
  }

  setFlag(
    name: string,
    change: { enabled?: unknown; rollout_percent?: unknown },
    by: string,
  ): FeatureFlag {
    const flag = this.flags.get(name);
    if (!flag) throw new ShopError(404, `no flag ${name}`);
    if (change.enabled !== undefined && typeof change.enabled !== 'boolean')
      throw new ShopError(400, 'enabled must be true or false');
    const pct = change.rollout_percent;
    if (
      pct !== undefined &&
      (typeof pct !== 'number' || !Number.isInteger(pct) || pct < 0 || pct > 100)
    ) {
      throw new ShopError(400, 'rollout_percent must be a whole number from 0 to 100');
    }
    if (change.enabled === undefined && pct === undefined)
      throw new ShopError(400, 'give enabled and/or rollout_percent');
    if (typeof change.enabled === 'boolean') flag.enabled = change.enabled;
    if (typeof pct === 'number') flag.rollout_percent = pct;
    flag.updated = { atMs: this.now() };
    flag.updated_by = by;
    const { updated, ...rest } = flag;
    return { ...rest, updated_at: this.iso(updated) };
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function cap(s: string): string {
  return s.length > 0 ? s[0].toUpperCase() + s.slice(1) : s;
}

export const KNOWN_ENDPOINTS: readonly string[] = ENDPOINTS.map((e) => e.name);
