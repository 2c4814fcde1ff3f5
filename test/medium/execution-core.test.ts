/**
 * The execution core without HTTP, driven by a scripted kernel so that deaths,
 * interrupts and timeouts happen at chosen moments: queueing and its limit,
 * interrupt, cell timeout, kernel death, a re-attached kernel getting its set-up
 * again, open-session limits, ordered state and the mutating gate. Real PostgreSQL,
 * policy and audit; only the kernel is scripted (the e2e suite runs real ones).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Principal } from '../../src/auth/principal';
import { ErrorCode, RungateError } from '../../src/common/errors';
import { ConfigModule } from '../../src/config/config.module';
import { loadConfig } from '../../src/config/load-config';
import { Database } from '../../src/db/database';
import { DbModule } from '../../src/db/db.module';
import { planRoutes } from '../../src/kernels/forwarding';
import { KernelsService } from '../../src/kernels/kernels.service';
import type {
  ExecuteOptions,
  ExecuteResult,
  Kernel,
  KernelStatus,
  Relay,
} from '../../src/kernels/kernels.types';
import type { Action } from '../../src/policy/actions';
import { PolicyModule } from '../../src/policy/policy.module';
import { PolicyService } from '../../src/policy/policy.service';
import { SessionsModule } from '../../src/sessions/sessions.module';
import { SessionsService } from '../../src/sessions/sessions.service';
import type { ExecutionRecord } from '../../src/sessions/sessions.types';
import { waitFor } from '../support/net';
import { notebook, runbooksDir } from '../support/notebooks';
import { createDatabase } from '../support/postgres';

/** A kernel whose cells do what their code says: `hold` waits to be interrupted, `die` kills it. */
class ScriptedKernel implements Kernel {
  readonly id = randomUUID();
  readonly pid = 0;
  readonly kernelName = 'python3';
  readonly language = 'python';
  readonly startedAt = new Date();
  readonly network = 'host' as const;
  /** Every code the kernel received, silent set-up cells included. */
  readonly received: string[] = [];
  private dead = false;
  private readonly died = new Set<(reason: string) => void>();
  private readonly waiting = new Set<(r: ExecuteResult) => void>();

  get status(): KernelStatus {
    return this.dead ? 'dead' : this.waiting.size > 0 ? 'busy' : 'idle';
  }

  async execute(code: string, _options?: ExecuteOptions): Promise<ExecuteResult> {
    if (this.dead) return { status: 'kernel_died', reason: 'dead' };
    this.received.push(code);
    if (code.includes('# die')) {
      setImmediate(() => this.die('process exited with code 1'));
    }
    if (code.includes('# hold') || code.includes('# die')) {
      return new Promise((resolve) => this.waiting.add(resolve));
    }
    return { status: 'ok', executionCount: this.received.length };
  }

  async interrupt(): Promise<void> {
    for (const resolve of [...this.waiting]) {
      this.waiting.delete(resolve);
      resolve({
        status: 'error',
        executionCount: null,
        ename: 'KeyboardInterrupt',
        evalue: '',
        traceback: [],
      });
    }
  }

  die(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    for (const resolve of [...this.waiting]) resolve({ status: 'kernel_died', reason });
    this.waiting.clear();
    for (const listener of [...this.died]) listener(reason);
  }

  async restart(): Promise<void> {}
  async shutdown(): Promise<void> {
    this.dead = true;
    for (const resolve of [...this.waiting])
      resolve({ status: 'kernel_died', reason: 'shut down' });
    this.waiting.clear();
  }
  onDied(listener: (reason: string) => void): () => void {
    this.died.add(listener);
    return () => this.died.delete(listener);
  }
  log(): string {
    return '';
  }
  async forward(): Promise<readonly Relay[]> {
    return [];
  }
  connectionMark(): number {
    return 0;
  }
  closeConnections(): number {
    return 0;
  }
}

/** The kernels module as the core sees it, handing out scripted kernels. */
class ScriptedKernels {
  readonly kernels: ScriptedKernel[] = [];
  async acquire(): Promise<Kernel> {
    const k = new ScriptedKernel();
    this.kernels.push(k);
    return k;
  }
  planRoutes(endpoints: Parameters<KernelsService['planRoutes']>[0]) {
    return planRoutes('host', endpoints);
  }
  specs() {
    return [];
  }
  poolStats() {
    return {};
  }
  async onModuleInit(): Promise<void> {}
  async onApplicationShutdown(): Promise<void> {}
}

/** `wait` holds like `hold`, under a timeout of its own (60 s) instead of the 1 s default. */
const RUNBOOK = withTimeout(
  notebook({
    title: 'Core (test)',
    environment: 'staging',
    cells: [
      { id: 'params', tags: ['parameters'], source: 'region = "eu"' },
      { id: 'look', source: 'print(region)' },
      { id: 'change', tags: ['mutating'], source: 'print("changed")' },
      { id: 'hold', source: '# hold' },
      { id: 'die', source: '# die' },
      { id: 'wait', source: '# hold (long)' },
    ],
  }),
  'wait',
  60,
);

function withTimeout(content: string, cellId: string, seconds: number): string {
  const nb = JSON.parse(content) as { cells: Array<{ id: string; metadata: object }> };
  for (const c of nb.cells) {
    if (c.id === cellId) c.metadata = { ...c.metadata, rungate: { timeout: seconds } };
  }
  return JSON.stringify(nb, null, 1);
}

const alice: Principal = { sub: 'alice', name: 'Alice', groups: ['oncall'] };
const ivan: Principal = {
  sub: 'ivan',
  name: 'Ivan Commander',
  groups: ['oncall', 'incident-commanders'],
};

async function refusal(p: Promise<unknown>): Promise<RungateError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RungateError);
  return err as RungateError;
}

describe('execution core (scripted kernel)', () => {
  let moduleRef: TestingModule;
  let sessions: SessionsService;
  let kernels: ScriptedKernels;
  let dataDir: string;
  let runbooks: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'rungate-core-'));
    runbooks = runbooksDir({ 'test/core': RUNBOOK });
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: await createDatabase(inject('postgresUrl'), 'core'),
      RUNGATE_DATA_DIR: dataDir,
      RUNGATE_RUNBOOKS_DIR: runbooks,
      RUNGATE_POLICY_WATCH: 'false',
      RUNGATE_DEMO_TARGET: 'false',
      RUNGATE_MAX_QUEUED_EXECUTIONS: '2',
      RUNGATE_MAX_SESSIONS_PER_USER: '3',
      RUNGATE_CELL_TIMEOUT: '1',
      RUNGATE_KERNEL_PROVISIONER: 'process',
    });
    kernels = new ScriptedKernels();
    moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(config), DbModule, PolicyModule, SessionsModule],
    })
      .overrideProvider(KernelsService)
      .useValue(kernels)
      .compile();
    moduleRef.useLogger(['error']);
    await moduleRef.init();
    sessions = moduleRef.get(SessionsService);
  });

  afterAll(async () => {
    await moduleRef?.close();
    await rm(dataDir, { recursive: true, force: true });
    await rm(runbooks, { recursive: true, force: true });
  });

  const start = async (who: Principal = alice) =>
    (await sessions.start(who, { runbook: 'test/core', reason: 'core test' })).session.id;
  const kernelOf = () => kernels.kernels[kernels.kernels.length - 1];
  const run = (id: string, cell: string, wait = true, who: Principal = alice) =>
    sessions.execute(who, id, cell, wait);
  /** The decision the policy guard makes for a request: what a mutating cell hands on. */
  const decided = async (who: Principal, id: string, action: Action) =>
    moduleRef.get(PolicyService).authorize(who, action, await sessions.resourceOf(id));
  const breakGlass = async (who: Principal, id: string) => ({
    decision: await decided(who, id, 'breakglass'),
    breakGlass: { reason: 'payments down' },
  });
  /** The session's state as the database holds it (what another replica and the lists read). */
  const stored = async (id: string) =>
    (
      await moduleRef
        .get(Database)
        .query<{ state: string }>('SELECT state FROM sessions WHERE id = $1', [id])
    ).rows[0].state;
  const storedAs = (id: string, state: string) =>
    waitFor(`session stored ${state}`, async () =>
      (await stored(id)) === state ? true : undefined,
    );

  it('runs cells in order, queues behind a running one and refuses past the limit with busy', async () => {
    const id = await start();
    const held = (await run(id, 'hold', false)) as ExecutionRecord;
    const q1 = await run(id, 'look', false);
    const q2 = await run(id, 'look', false);
    const busy = await refusal(run(id, 'look', false));
    expect(busy.code).toBe(ErrorCode.Busy);
    const { interrupted, cancelled } = await sessions.interrupt(id);
    expect(interrupted).toBe(held.id);
    expect(cancelled.sort()).toEqual([q1.id, q2.id].sort());
    const done = await sessions.execution(id, held.id);
    await waitFor('the held cell to end', async () =>
      (await sessions.execution(id, held.id)).state === 'interrupted' ? true : undefined,
    );
    expect(done.id).toBe(held.id);
    expect((await sessions.execution(id, q1.id)).state).toBe('cancelled');
    expect((await run(id, 'look')).state).toBe('ok');
    await sessions.end(alice, id);
  });

  it('interrupts a cell that runs past its timeout', async () => {
    const id = await start();
    const started = Date.now();
    const held = await run(id, 'hold');
    expect(held.state).toBe('interrupted');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await sessions.end(alice, id);
  });

  it('ends the running cell and the queue when the kernel dies, and refuses cells until a new kernel', async () => {
    const id = await start();
    const dying = run(id, 'die') as Promise<ExecutionRecord>;
    // Queued behind the dying cell, or refused if the death came first: never left waiting.
    const queued: ExecutionRecord | RungateError = await run(id, 'look', false).catch(
      (e: RungateError) => e,
    );
    expect((await dying).state).toBe('kernel_died');
    if (!(queued instanceof RungateError))
      expect((await sessions.execution(id, queued.id)).state).toBe('cancelled');
    await waitFor('the session to say its kernel died', async () =>
      (await sessions.get(id)).session.state === 'kernel_dead' ? true : undefined,
    );
    const refused = await refusal(run(id, 'look'));
    expect(refused.code).toBe(ErrorCode.Conflict);
    const old = kernelOf();
    await sessions.replaceKernel(alice, id);
    const fresh = kernelOf();
    expect(fresh).not.toBe(old);
    // The new kernel got the session's set-up (environment) and its parameters again.
    expect(fresh.received.some((c) => c.includes('RUNGATE_SESSION_ID') && c.includes(id))).toBe(
      true,
    );
    expect(
      fresh.received.some((c) => c.includes("region = 'eu'") || c.includes('region = "eu"')),
    ).toBe(true);
    expect((await run(id, 'look')).state).toBe('ok');
    await sessions.end(alice, id);
  });

  it('answers every request fired around an interrupt, a timeout and a session end', async () => {
    const within = <T>(p: Promise<T>, what: string): Promise<T | 'refused'> =>
      Promise.race([
        p.catch(() => 'refused' as const),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`no answer within 15 s: ${what}`)), 15_000),
        ),
      ]);
    const id = await start();
    const fire = (n: number, what: string) =>
      Array.from({ length: n }, (_, i) => within(run(id, 'look'), `${what} ${i}`));
    const held = run(id, 'hold');
    const beforeInterrupt = fire(2, 'before the interrupt');
    const interrupting = sessions.interrupt(id);
    const duringInterrupt = fire(2, 'during the interrupt');
    await interrupting;
    expect((await held).state).toBe('interrupted');
    const timedOut = run(id, 'hold'); // ends by the 1 s cell timeout
    const aroundTimeout = fire(2, 'around the timeout');
    expect((await timedOut).state).toBe('interrupted');
    const last = run(id, 'hold');
    const beforeEnd = fire(2, 'before the end');
    const ending = sessions.end(alice, id);
    const afterEnd = fire(2, 'after the end');
    await ending;
    expect(['interrupted', 'kernel_died', 'cancelled']).toContain((await last).state);
    for (const answer of await Promise.all([
      ...beforeInterrupt,
      ...duringInterrupt,
      ...aroundTimeout,
      ...beforeEnd,
      ...afterEnd,
    ])) {
      if (answer !== 'refused') expect(['ok', 'cancelled', 'interrupted']).toContain(answer.state);
    }
  });

  it('never moves a session the database says is over (compare-and-set on its state)', async () => {
    const id = await start();
    // Another replica took it for lost: this process must not bring it back.
    await moduleRef.get(Database).query(`UPDATE sessions SET state = 'lost' WHERE id = $1`, [id]);
    const refused = await refusal(sessions.replaceKernel(alice, id));
    expect(refused.code).toBe(ErrorCode.Conflict);
    const stored = async () =>
      (
        await moduleRef
          .get(Database)
          .query<{ state: string }>('SELECT state FROM sessions WHERE id = $1', [id])
      ).rows[0].state;
    expect(await stored()).toBe('lost');
    // Ending it here still releases what this process holds; the record stays lost.
    await sessions.end(alice, id);
    expect(await stored()).toBe('lost');
  });

  it('bounds the open sessions per person', async () => {
    const ids = [await start(), await start(), await start()];
    const over = await refusal(start());
    expect(over.code).toBe(ErrorCode.Busy);
    for (const id of ids) await sessions.end(alice, id);
    await sessions.end(alice, await start());
  });

  it('gates a mutating cell: approval first, then the cells above it in order on this kernel', async () => {
    const id = await start();
    const mutating = { decision: await decided(alice, id, 'cell:execute-mutating') };
    const noApproval = await refusal(sessions.execute(alice, id, 'change', true, mutating));
    expect(noApproval.code).toBe(ErrorCode.ApprovalRequired);
    // Breaking glass needs the guard's `breakglass` decision; alice's is a refusal.
    const refused = await refusal(
      sessions.execute(alice, id, 'change', true, await breakGlass(alice, id)),
    );
    expect(refused.code).toBe(ErrorCode.Forbidden);
    await sessions.end(alice, id);

    const mine = await start(ivan);
    const early = await refusal(
      sessions.execute(ivan, mine, 'change', true, await breakGlass(ivan, mine)),
    );
    expect(early.code).toBe(ErrorCode.OutOfOrder);
    expect(early.extensions.runFirst).toEqual(['look']);
    expect((await run(mine, 'look', true, ivan)).state).toBe('ok');
    expect(
      (await sessions.execute(ivan, mine, 'change', true, await breakGlass(ivan, mine))).state,
    ).toBe('ok');
    // The parameters run again after `look`: the kernel state `change` needs is gone.
    expect((await run(mine, 'params', true, ivan)).state).toBe('ok');
    const again = await refusal(
      sessions.execute(ivan, mine, 'change', true, await breakGlass(ivan, mine)),
    );
    expect(again.extensions.runFirst).toEqual(['look']);
    await sessions.end(ivan, mine);
  });

  it('runs a mutating cell only on the decision the guard made for it, never deciding again', async () => {
    const id = await start(ivan);
    const asked = async (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    // No decision, or one about another action: a wiring fault, refused loudly, nothing queued.
    for (const opts of [
      {},
      { decision: await decided(ivan, id, 'cell:execute') },
      // A break-glass run on the decision for an approved run.
      {
        decision: await decided(ivan, id, 'cell:execute-mutating'),
        breakGlass: { reason: 'payments down' },
      },
    ]) {
      const err = await asked(sessions.execute(ivan, id, 'change', true, opts));
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(RungateError);
      expect((err as Error).message).toMatch(/no policy decision for/);
    }
    expect((await sessions.get(id)).executions.map((e) => e.cellId)).toEqual(['params']);
    await sessions.end(ivan, id);
  });

  it("stores busy while a cell runs and idle once it ended, in the execution's own statements", async () => {
    const id = await start();
    expect(await stored(id)).toBe('idle');
    const held = await run(id, 'wait', false);
    await storedAs(id, 'busy');
    // This process, the open-session list (another replica's view) and the row agree.
    expect((await sessions.get(id)).session.state).toBe('busy');
    const listed = await sessions.list({ ownerSub: alice.sub, state: 'open' });
    expect(listed.find((s) => s.id === id)?.state).toBe('busy');
    const { interrupted } = await sessions.interrupt(id);
    expect(interrupted).toBe(held.id);
    expect((await sessions.execution(id, held.id)).state).toBe('interrupted');
    expect(await stored(id)).toBe('idle');
    expect((await run(id, 'look')).state).toBe('ok');
    expect(await stored(id)).toBe('idle');
    expect((await sessions.get(id)).session.state).toBe('idle');
    await sessions.end(alice, id);
    expect(await stored(id)).toBe('ended');
  });

  it('moves a busy session to kernel_dead when its kernel dies mid-cell', async () => {
    const id = await start();
    const held = await run(id, 'wait', false);
    await storedAs(id, 'busy');
    kernelOf().die('process exited with code 1');
    await storedAs(id, 'kernel_dead');
    expect((await sessions.execution(id, held.id)).state).toBe('kernel_died');
    expect((await sessions.get(id)).session.state).toBe('kernel_dead');
    // A new kernel brings it back, and the row follows.
    await sessions.replaceKernel(alice, id);
    expect(await stored(id)).toBe('idle');
    expect((await run(id, 'look')).state).toBe('ok');
    await sessions.end(alice, id);
    expect(await stored(id)).toBe('ended');
  });

  it('ends a busy session: its cell ends with the kernel and the row says ended', async () => {
    const id = await start();
    const held = await run(id, 'wait', false);
    await storedAs(id, 'busy');
    await sessions.end(alice, id);
    expect(await stored(id)).toBe('ended');
    expect(['kernel_died', 'interrupted']).toContain((await sessions.execution(id, held.id)).state);
  });
});
