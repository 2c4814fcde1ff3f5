/**
 * `npm run bench:capacity`: what one replica holds, and what a second one adds, on
 * PostgreSQL with durable settings (bench/postgres.ts), one real Kafka broker
 * (`acks=all`) and one OpenID provider that both replicas trust.
 *
 * 1. Memory: gateway A's resident set (VmRSS; kernels are other processes and
 *    excluded) idle, then with `BENCH_CAP_SESSIONS` open sessions.
 * 2. Per kernel, from its sandbox cgroups (src/kernels/sandbox/cgroups.ts): memory
 *    (what the limit counts, anonymous, page cache), tasks and CPU, idle, per `1+1`,
 *    and before and after the sample runbook `shop/checkout-errors` (matplotlib).
 * 3. Replicas: gateway B starts on the same database, broker and topic, and opens
 *    half as many sessions. Then, in the same run, `1+1` back to back in each
 *    variant for the same time, the variants alternating in `BENCH_CAP_ROUNDS`
 *    rounds (order rotated) so that load from elsewhere falls on all alike:
 *    - one: the `BENCH_CAP_SESSIONS` sessions of A, every request to A;
 *    - two: half of A's sessions to A and B's sessions to B (each to its owner);
 *    - proxied: the same sessions as `two`, every other request to the replica
 *      that does not own the session (which proxies it to the owner).
 *    Each with cells/s, errors, latency and where the CPU went (/proc; kernels also
 *    from their cgroups). B's sessions (and A's other half) stay open but idle while
 *    a variant does not use them.
 *
 * Sizes: BENCH_CAP_SESSIONS (50, even), BENCH_CAP_SECONDS (60: per variant, over all
 * rounds), BENCH_CAP_ROUNDS (6), BENCH_CAP_PROXIED (1; 0 leaves that variant out),
 * BENCH_CAP_RUNBOOK_SESSIONS (3: kernels that run shop/checkout-errors).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { Client } from 'pg';
import { startGateway, type Gateway } from '../test/support/gateway';
import { startKafka, uniqueTopic } from '../test/support/kafka';
import { notebook, runbooksDir } from '../test/support/notebooks';
import { startTestIssuer } from '../test/support/oidc';
import { createDatabase } from '../test/support/postgres';
import { benchCpu, cpuMeter, descendantsCpu, machineBusy, processCpu, serverCpu } from './cpu';
import {
  groupsCpuMs,
  kernelGroups,
  readKernelGroups,
  spread,
  type KernelGroupReading,
  type KernelGroups,
} from './kernel-cgroup';
import { loopFor, rssMiB, type LoopResult } from './load';
import { startDurablePostgres } from './postgres';
import { ms, sleep, summary } from './stats';

const SESSIONS = 2 * Math.round(Number(process.env.BENCH_CAP_SESSIONS ?? 50) / 2);
const SECONDS = Number(process.env.BENCH_CAP_SECONDS ?? 60);
const ROUNDS = Math.max(1, Number(process.env.BENCH_CAP_ROUNDS ?? 6));
const PROXIED = process.env.BENCH_CAP_PROXIED !== '0';
const RUNBOOK_SESSIONS = Number(process.env.BENCH_CAP_RUNBOOK_SESSIONS ?? 3);
/** Pause between two loops, so a loop's deferred work (relay, group commits) ends first. */
const SETTLE_MS = 3000;
const RUNBOOK = notebook({ title: 'Capacity benchmark', cells: [{ id: 'one', source: '1+1' }] });
const SAMPLE_RUNBOOK = 'shop/checkout-errors';

type Variant = 'one' | 'two' | 'proxied';
const VARIANTS: Variant[] = PROXIED ? ['one', 'two', 'proxied'] : ['one', 'two'];
const LABEL: Record<Variant, string> = {
  one: `one replica, ${SESSIONS} sessions`,
  two: `two replicas, ${SESSIONS / 2} sessions each, requests to the owner`,
  proxied: `two replicas, ${SESSIONS / 2} sessions each, every other request to the other replica`,
};

/** CPU ms used during a loop, by process group. */
type Cpu = Record<
  | 'gatewayA'
  | 'gatewayB'
  | 'kernels'
  | 'kernelGroups'
  | 'postgres'
  | 'kafka'
  | 'client'
  | 'machine',
  number
>;

interface Session {
  id: string;
  owner: Gateway;
  groups: KernelGroups | undefined;
  /** The kernel's Python process (for its RSS). */
  python: number | undefined;
}

const progress = (what: string) =>
  console.error(`[capacity ${new Date().toISOString().slice(11, 19)}] ${what}`);

// ---- processes ------------------------------------------------------------------

function children(): Map<number, number[]> {
  const map = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const s = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
      const list = map.get(ppid);
      if (list) list.push(Number(entry));
      else map.set(ppid, [Number(entry)]);
    } catch {
      // gone
    }
  }
  return map;
}

/** `pid` and its descendants. */
function tree(pid: number, map = children()): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(map.get(p) ?? []));
  }
  return out;
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** The process whose command line holds `marker` (the broker's JVM names its own directory). */
function pidWith(marker: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (
      /^\d+$/.test(entry) &&
      Number(entry) !== process.pid &&
      cmdline(Number(entry)).includes(marker)
    )
      return Number(entry);
  }
  return undefined;
}

/** A kernel's cgroups and its Python process, from the pid the gateway reports. */
function locateKernel(pid: number): Pick<Session, 'groups' | 'python'> {
  const procs = tree(pid);
  // The Python process: below sh, setpriv, prlimit and bwrap (whose command lines name
  // ipykernel too), the one that holds the memory.
  const python = procs
    .filter((p) => cmdline(p).includes('ipykernel'))
    .sort((x, y) => (rssMiB(y) ?? 0) - (rssMiB(x) ?? 0))[0];
  for (const p of [pid, ...procs]) {
    const groups = kernelGroups(p);
    if (groups) return { groups, python };
  }
  return { groups: undefined, python };
}

// ---- HTTP ----------------------------------------------------------------------

async function post(url: string, token: string, body?: unknown) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      accept: 'application/json',
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: json };
}

async function openSession(gw: Gateway, token: string, runbook: string): Promise<Session> {
  const r = await post(`${gw.url}/v1/sessions`, token, {
    runbook,
    reason: 'capacity benchmark',
  });
  if (r.status !== 201) throw new Error(`session start on ${gw.url}: ${JSON.stringify(r.body)}`);
  const pid = Number(r.body.kernel?.pid);
  return { id: r.body.id as string, owner: gw, ...locateKernel(pid) };
}

async function execute(gw: Gateway, token: string, session: string): Promise<void> {
  const r = await post(`${gw.url}/v1/sessions/${session}/cells/one/execute`, token);
  if (r.status !== 200 || r.body?.status !== 'ok')
    throw new Error(`execute through ${gw.url}: ${r.status} ${JSON.stringify(r.body)}`);
}

async function settle(gw: Gateway): Promise<void> {
  // Let start-up work (catalog, pool, relay) finish.
  for (let i = 0; i < 3; i++) await gw.api('/healthz');
}

// ---- formatting ----------------------------------------------------------------

const mib = (v: number | undefined) => (v === undefined ? 'n/a' : `${v.toFixed(1)} MiB`);
const cores = (cpuMs: number, seconds: number) => (cpuMs / 1000 / seconds).toFixed(2);
const perCell = (cpuMs: number, cells: number) => (cells > 0 ? ms(cpuMs / cells) : 'n/a');

function memoryRow(label: string, rs: KernelGroupReading[], rss: number[]): string {
  const f = (pick: (r: KernelGroupReading) => number | undefined) => {
    const s = spread(rs.map(pick).filter((v): v is number => v !== undefined));
    return Number.isNaN(s.mean)
      ? 'n/a'
      : `${s.mean.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  };
  const p = spread(rss);
  return (
    `| ${label} | ${rs.length} | ${f((r) => r.usage)} | ${f((r) => r.anon)} | ${f((r) => r.file)} | ` +
    `${f((r) => r.shmem)} | ${f((r) => r.peak)} | ` +
    `${Number.isNaN(p.mean) ? 'n/a' : `${p.mean.toFixed(1)} (${p.min.toFixed(1)}–${p.max.toFixed(1)})`} | ` +
    `${f((r) => r.pids)} |`
  );
}

// ---- the run -------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  console.log(
    `rungate capacity benchmark, ${startedAt.toISOString()}: ${SESSIONS} sessions, ` +
      `${SECONDS} s of load per variant in ${ROUNDS} rounds; ${availableParallelism()} CPUs ` +
      `(${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; ` +
      `load average at start ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}`,
  );
  const [pg, kafka, issuer] = await Promise.all([
    startDurablePostgres(),
    startKafka(),
    startTestIssuer(),
  ]);
  const gateways: Gateway[] = [];
  let db: Client | undefined;
  try {
    console.log(
      `PostgreSQL ${pg.version}, ${Object.entries(pg.durability)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}; Kafka ${kafka.brokers}`,
    );
    const kafkaPid = pidWith(kafka.dir);
    const dir = runbooksDir({ 'bench/one': RUNBOOK });
    const dbUrl = await createDatabase(pg.url, 'bench_capacity');
    const topic = uniqueTopic('bench-capacity');
    const env = {
      DATABASE_URL: dbUrl,
      KAFKA_BROKERS: kafka.brokers,
      RUNGATE_AUDIT_TOPIC: topic,
      OIDC_ISSUER: issuer.issuer,
      RUNGATE_RUNBOOKS_DIR: dir,
      RUNGATE_KERNEL_POOL_SIZE: '0',
      RUNGATE_MAX_SESSIONS: String(SESSIONS + RUNBOOK_SESSIONS + 10),
      RUNGATE_MAX_SESSIONS_PER_USER: String(SESSIONS + RUNBOOK_SESSIONS + 10),
      RUNGATE_RATE_LIMIT_PER_PRINCIPAL: '0',
      RUNGATE_RATE_LIMIT_PER_ADDRESS: '0',
      RUNGATE_LOG_LEVEL: 'error',
      NODE_ENV: 'development',
    };
    const a = await startGateway({ env });
    gateways.push(a);
    db = new Client({ connectionString: dbUrl });
    await db.connect();
    const token = await issuer.tokenFor('alice');

    // 1. Memory of one replica.
    await settle(a);
    await sleep(1000);
    const idleRss = rssMiB(a.pid) ?? NaN;
    const t0 = performance.now();
    const aSessions: Session[] = [];
    for (let i = 0; i < SESSIONS; i++) {
      aSessions.push(await openSession(a, token, 'bench/one'));
      if ((i + 1) % 10 === 0) progress(`${i + 1}/${SESSIONS} sessions open on A`);
    }
    const startSeconds = (performance.now() - t0) / 1000;
    await settle(a);
    await sleep(1000);
    const withSessionsRss = rssMiB(a.pid) ?? NaN;

    // 2. Kernels idle: memory, tasks, and CPU over a few idle seconds.
    const aGroups = aSessions.map((s) => s.groups).filter((g): g is KernelGroups => !!g);
    const idleReadings = aGroups.map(readKernelGroups);
    const idleKernelRss = aSessions
      .map((s) => (s.python === undefined ? undefined : rssMiB(s.python)))
      .filter((v): v is number => v !== undefined);
    const idleCpu0 = groupsCpuMs(aGroups);
    await sleep(5000);
    const idleCpuPerKernel = (groupsCpuMs(aGroups) - idleCpu0) / 5 / Math.max(1, aGroups.length);

    // 3. A second replica on the same database, broker, topic and issuer.
    const b = await startGateway({ env });
    gateways.push(b);
    await settle(b);
    const bSessions: Session[] = [];
    for (let i = 0; i < SESSIONS / 2; i++) bSessions.push(await openSession(b, token, 'bench/one'));
    progress(`${bSessions.length} sessions open on B`);
    const instances = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM gateway_instances WHERE stopped_at IS NULL',
    );
    if (instances.rows[0].n !== 2)
      throw new Error(`expected 2 running instances, found ${instances.rows[0].n}`);
    // Each session's first cell is dearer (first execution on the kernel): not measured.
    await Promise.all([...aSessions, ...bSessions].map((s) => execute(s.owner, token, s.id)));

    const allGroups = [...aSessions, ...bSessions]
      .map((s) => s.groups)
      .filter((g): g is KernelGroups => !!g);
    const kafkaCpu = () => (kafkaPid === undefined ? 0 : processCpu(kafkaPid));
    const workers: Record<Variant, Array<() => Promise<void>>> = {
      one: aSessions.map((s) => () => execute(a, token, s.id)),
      two: [...aSessions.slice(0, SESSIONS / 2), ...bSessions].map(
        (s) => () => execute(s.owner, token, s.id),
      ),
      proxied: [...aSessions.slice(0, SESSIONS / 2), ...bSessions].map((s) => {
        let n = 0;
        const other = s.owner === a ? b : a;
        return () => execute(n++ % 2 === 0 ? s.owner : other, token, s.id);
      }),
    };
    const results = Object.fromEntries(
      VARIANTS.map((v) => [
        v,
        {
          loop: { done: 0, errors: 0, firstErrors: [], seconds: 0, latencies: [] } as LoopResult,
          cpu: {
            gatewayA: 0,
            gatewayB: 0,
            kernels: 0,
            kernelGroups: 0,
            postgres: 0,
            kafka: 0,
            client: 0,
            machine: 0,
          } as Cpu,
          events: 0,
        },
      ]),
    ) as Record<Variant, { loop: LoopResult; cpu: Cpu; events: number }>;
    const countEvents = async () =>
      (await db!.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events')).rows[0].n;

    for (let round = 0; round < ROUNDS; round++) {
      const shift = round % VARIANTS.length;
      const order = [...VARIANTS.slice(shift), ...VARIANTS.slice(0, shift)];
      if (Math.floor(round / VARIANTS.length) % 2 === 1) order.reverse();
      for (const v of order) {
        await sleep(SETTLE_MS);
        progress(`round ${round + 1}/${ROUNDS}: ${LABEL[v]} for ${SECONDS / ROUNDS} s`);
        const events0 = await countEvents();
        const meter = cpuMeter({
          gatewayA: () => processCpu(a.pid),
          gatewayB: () => processCpu(b.pid),
          kernels: () => descendantsCpu(a.pid) + descendantsCpu(b.pid),
          kernelGroups: () => groupsCpuMs(allGroups),
          postgres: () => serverCpu(pg.pid),
          kafka: kafkaCpu,
          client: benchCpu,
          machine: machineBusy,
        });
        const loop = await loopFor(workers[v], SECONDS / ROUNDS);
        const used = meter.since();
        const r = results[v];
        r.loop.done += loop.done;
        r.loop.errors += loop.errors;
        r.loop.seconds += loop.seconds;
        r.loop.latencies.push(...loop.latencies);
        r.loop.firstErrors.push(...loop.firstErrors.slice(0, 5 - r.loop.firstErrors.length));
        for (const k of Object.keys(used) as Array<keyof Cpu>) r.cpu[k] += used[k];
        r.events += (await countEvents()) - events0;
      }
    }
    const afterLoadRss = { a: rssMiB(a.pid) ?? NaN, b: rssMiB(b.pid) ?? NaN };

    // 4. The sample runbook in fresh kernels: what a typical cell costs a kernel.
    const runbook: Array<{ before: KernelGroupReading; after: KernelGroupReading; rss: number }> =
      [];
    let runbookErrors = 0;
    for (let i = 0; i < RUNBOOK_SESSIONS; i++) {
      const s = await openSession(a, token, SAMPLE_RUNBOOK);
      if (!s.groups) continue;
      await sleep(500);
      const before = readKernelGroups(s.groups);
      const r = await post(`${a.url}/v1/sessions/${s.id}/run`, token);
      const executions: Array<{ status: string }> = r.body?.executions ?? [];
      if (r.status !== 200 || executions.some((e) => e.status !== 'ok')) {
        runbookErrors++;
        progress(`runbook run: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`);
      }
      await sleep(500);
      const after = readKernelGroups(s.groups);
      runbook.push({
        before,
        after,
        rss: s.python === undefined ? NaN : (rssMiB(s.python) ?? NaN),
      });
    }

    // ---- report --------------------------------------------------------------
    const runbookReadings = runbook.map((r) => r.after);
    const runbookRss = runbook.map((r) => r.rss).filter((v) => !Number.isNaN(v));
    const limits = idleReadings[0];
    console.log('');
    console.log('### One replica: memory and session starts');
    console.log('');
    console.log('| measure | value |');
    console.log('|---|---|');
    console.log(`| gateway RSS, idle (kernels excluded) | ${idleRss.toFixed(0)} MiB |`);
    console.log(
      `| gateway RSS with ${SESSIONS} open sessions | ${withSessionsRss.toFixed(0)} MiB (${((withSessionsRss - idleRss) / SESSIONS).toFixed(2)} MiB per session) |`,
    );
    console.log(
      `| gateway RSS after the load (A with ${SESSIONS} sessions, B with ${SESSIONS / 2}) | A ${afterLoadRss.a.toFixed(0)} MiB, B ${afterLoadRss.b.toFixed(0)} MiB |`,
    );
    console.log(
      `| ${SESSIONS} sessions started one after another | ${startSeconds.toFixed(1)} s (${(startSeconds / SESSIONS).toFixed(2)} s each, cold kernels) |`,
    );

    console.log('');
    console.log(
      `### Per kernel, from its cgroups (v${aGroups[0]?.version ?? '?'}; mean, min–max, MiB)`,
    );
    console.log('');
    console.log(
      '| kernel | kernels | memory charged (what the limit counts) | anonymous | page cache | of which tmpfs | peak charged | Python process RSS | tasks (pids) |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    console.log(memoryRow(`idle, after start (warm-up imports)`, idleReadings, idleKernelRss));
    console.log(
      memoryRow(
        `after \`${SAMPLE_RUNBOOK}\`'s read-only cells (matplotlib figure, demo-shop calls)`,
        runbookReadings,
        runbookRss,
      ),
    );
    console.log('');
    console.log(
      `Limits per kernel: memory ${mib(limits?.limit)}, tasks ${limits?.pidsMax ?? 'none'}. ` +
        `Idle kernel CPU: ${idleCpuPerKernel.toFixed(2)} ms a second each (cgroup, over 5 s).`,
    );
    const one = results.one;
    console.log(
      `Kernel CPU per \`1+1\` (cgroup CPU accounting of the kernels over the ${one.loop.done} ` +
        `cells of the one-replica loops, idle kernels' share included): ` +
        `${perCell(one.cpu.kernelGroups, one.loop.done)}; from /proc: ${perCell(one.cpu.kernels, one.loop.done)}.`,
    );
    if (runbook.length > 0) {
      const cpu = spread(runbook.map((r) => (r.after.cpuMs ?? 0) - (r.before.cpuMs ?? 0)));
      const grow = spread(runbook.map((r) => r.after.usage - r.before.usage));
      console.log(
        `\`${SAMPLE_RUNBOOK}\` run (POST /run, ${runbook.length} kernels, ${runbookErrors} with errors): ` +
          `kernel CPU ${cpu.mean.toFixed(0)} ms (${cpu.min.toFixed(0)}–${cpu.max.toFixed(0)}), ` +
          `memory charged +${grow.mean.toFixed(1)} MiB (${grow.min.toFixed(1)}–${grow.max.toFixed(1)}).`,
      );
    }

    console.log('');
    console.log('### Two replicas against one, `1+1` back to back');
    console.log('');
    console.log(
      '| variant | cells | errors | cells/s | latency p50 | latency p99 | audit events/s |',
    );
    console.log('|---|---|---|---|---|---|---|');
    const rate = (v: Variant) => results[v].loop.done / results[v].loop.seconds;
    for (const v of VARIANTS) {
      const r = results[v];
      const s = summary(r.loop.latencies.length > 0 ? r.loop.latencies : [NaN]);
      console.log(
        `| ${LABEL[v]} | ${r.loop.done} | ${r.loop.errors} | ${rate(v).toFixed(1)} | ${ms(s.p50)} | ${ms(s.p99)} | ${(r.events / r.loop.seconds).toFixed(0)} |`,
      );
    }
    console.log('');
    console.log(
      `Two against one: ${(rate('two') / rate('one')).toFixed(2)}x (target ≥ 1.8x)` +
        (PROXIED
          ? `; with half the requests proxied: ${(rate('proxied') / rate('one')).toFixed(2)}x.`
          : '.'),
    );
    console.log('');
    console.log("CPUs busy (CPU time over the loops' duration, /proc):");
    console.log('');
    console.log(
      '| variant | machine | gateway A | gateway B | kernels | kernels (cgroups) | PostgreSQL | Kafka | client | other |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const v of VARIANTS) {
      const { cpu, loop } = results[v];
      const other =
        cpu.machine -
        cpu.gatewayA -
        cpu.gatewayB -
        cpu.kernels -
        cpu.postgres -
        cpu.kafka -
        cpu.client;
      const c = (x: number) => cores(x, loop.seconds);
      console.log(
        `| ${v} | ${c(cpu.machine)} | ${c(cpu.gatewayA)} | ${c(cpu.gatewayB)} | ${c(cpu.kernels)} | ` +
          `${c(cpu.kernelGroups)} | ${c(cpu.postgres)} | ${c(cpu.kafka)} | ${c(cpu.client)} | ${c(other)} |`,
      );
    }
    console.log('');
    console.log('CPU per cell:');
    console.log('');
    console.log(
      '| variant | machine | gateways | kernels | kernels (cgroups) | PostgreSQL | Kafka | client |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const v of VARIANTS) {
      const { cpu, loop } = results[v];
      const c = (x: number) => perCell(x, loop.done);
      console.log(
        `| ${v} | ${c(cpu.machine)} | ${c(cpu.gatewayA + cpu.gatewayB)} | ${c(cpu.kernels)} | ` +
          `${c(cpu.kernelGroups)} | ${c(cpu.postgres)} | ${c(cpu.kafka)} | ${c(cpu.client)} |`,
      );
    }

    // A projection, not a measurement: CPU per cell of each part as measured above, on a
    // machine where the kernels (and the client) run elsewhere.
    const two = results.two;
    const gwPerCell = (two.cpu.gatewayA + two.cpu.gatewayB) / two.loop.done;
    const pgPerCell = two.cpu.postgres / two.loop.done;
    const kafkaPerCell = two.cpu.kafka / two.loop.done;
    const kernelPerCell = two.cpu.kernels / two.loop.done;
    console.log('');
    console.log(
      `Projection (arithmetic on the CPU per cell of the \`two\` variant, not measured): a ` +
        `replica given one core of its own saturates it near ${(1000 / gwPerCell).toFixed(0)} ` +
        `\`1+1\` cells/s (${gwPerCell.toFixed(2)} ms of gateway CPU a cell, all its threads); ` +
        `two replicas, a core each, near ${(2000 / gwPerCell).toFixed(0)}, if the rest runs ` +
        `elsewhere: PostgreSQL would then need ${(((2000 / gwPerCell) * pgPerCell) / 1000).toFixed(2)} ` +
        `cores, Kafka ${(((2000 / gwPerCell) * kafkaPerCell) / 1000).toFixed(2)} and the kernels ` +
        `${(((2000 / gwPerCell) * kernelPerCell) / 1000).toFixed(2)} (at their CPU per cell here).`,
    );
    for (const e of VARIANTS.flatMap((v) => results[v].loop.firstErrors.map((x) => `${v}: ${x}`)))
      console.log(`error: ${e}`);
    if (VARIANTS.some((v) => results[v].loop.errors > 0))
      for (const [name, gw] of [
        ['A', a],
        ['B', b],
      ] as const) {
        // What the replicas logged about it (RUNGATE_LOG_LEVEL=error), its last lines.
        const lines = gw
          .output()
          .split('\n')
          .filter((l) => /error|ECONN|EPIPE|socket/i.test(l));
        for (const l of lines.slice(-6)) console.log(`gateway ${name}: ${l.slice(0, 600)}`);
      }
    console.log('');
    console.log(
      `Load average at end ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}; ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s in all.`,
    );
  } finally {
    await db?.end().catch(() => undefined);
    for (const gw of gateways.reverse()) await gw.stop().catch(() => undefined);
    await kafka.stop();
    await issuer.stop();
    await pg.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`capacity benchmark failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
