/**
 * The processes the fault tests and `npm run chaos` break: a PostgreSQL server and a
 * Kafka broker of their own (stopped and started at will, never the shared ones), a
 * production target database with the orders table, and a runbook whose cells leave
 * a line in a marker file each time they start (so what ran is known from outside).
 */
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startGateway, type Gateway, type StartOptions } from './gateway';
import { startKafka, uniqueTopic, type KafkaBroker } from './kafka';
import { freePort } from './net';
import { notebook, runbooksDir } from './notebooks';
import { createOrdersTarget, writeOrdersTargetsFile } from './pg-target';
import { createDatabase, startPostgres, type TestPostgres } from './postgres';

export const FAULTS_RUNBOOK = 'test/faults';

/**
 * The runbook: `hold` changes production (it takes a row lock with its elevated
 * role and keeps the connection for `hold_seconds`), `work` runs for `work_seconds`,
 * `count` reads with the session's read-only role. Each writes `<cell>` to the
 * marker file first thing, and `<cell>.end` when it is done.
 */
function faultsRunbook(marker: string): string {
  const mark = (what: string) => `open(${JSON.stringify(marker)}, "a").write("${what}\\n")`;
  return notebook({
    title: 'Faults (test)',
    targets: ['orders-db'],
    environment: 'prod',
    cells: [
      { id: 'params', tags: ['parameters'], source: 'work_seconds = 1.0\nhold_seconds = 1.0' },
      {
        id: 'hold',
        tags: ['mutating'],
        source: [
          mark('hold'),
          'import rungate, time',
          'with rungate.connect("orders-db") as c:',
          '    c.execute("update orders set status = status where id = 1")',
          '    time.sleep(hold_seconds)',
          mark('hold.end'),
        ].join('\n'),
      },
      {
        id: 'work',
        source: [mark('work'), 'import time', 'time.sleep(work_seconds)', mark('work.end')].join(
          '\n',
        ),
      },
      {
        id: 'count',
        source: [
          mark('count'),
          'import rungate',
          'with rungate.connect("orders-db") as c:',
          '    print(c.execute("select count(*) from orders").fetchone()[0])',
          mark('count.end'),
        ].join('\n'),
      },
    ],
  });
}

export interface FaultWorld {
  /** The gateway's own PostgreSQL server (stop and start it at will). */
  readonly postgres: TestPostgres;
  readonly kafka: KafkaBroker;
  /** The orders database the runbook reaches, and the prefix of the roles minted on it. */
  readonly target: { readonly url: string; readonly rolePrefix: string };
  /** A fresh gateway database, topic and marker file for one scenario. */
  scenario(name: string): Promise<FaultScenario>;
  close(): Promise<void>;
}

export interface FaultScenario {
  readonly dbUrl: string;
  readonly topic: string;
  readonly marker: string;
  /** Gateway options: its database, broker, topic, runbooks, policy, target and ports. */
  readonly options: StartOptions;
  /** Starts (or restarts, on the same data dir and ports) this scenario's gateway. */
  start(extraEnv?: Record<string, string>): Promise<Gateway>;
}

/**
 * Starts the world. The target database lives on `targetAdminUrl` when given (the
 * shared server of the test run), else on a second server of its own: a fault of
 * the gateway's database must not take the target down with it.
 */
export async function startFaultWorld(targetAdminUrl?: string): Promise<FaultWorld> {
  const dirs: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    const [postgres, kafka, targetServer] = await Promise.all([
      startPostgres(),
      startKafka(),
      targetAdminUrl === undefined ? startPostgres() : Promise.resolve(undefined),
    ]);
    closers.push(
      () => postgres.stop(),
      () => kafka.stop(),
    );
    if (targetServer) closers.push(() => targetServer.stop());
    const prefix = `faults_${process.pid}`;
    const orders = await createOrdersTarget(targetAdminUrl ?? targetServer!.url, prefix);
    const conf = mkdtempSync(join(tmpdir(), 'rungate-faults-'));
    dirs.push(conf);
    writeOrdersTargetsFile(conf, prefix);
    // The shipped policy, with alice allowed to break glass: a mutating cell then runs
    // with elevated credentials without a round of approvals.
    const policies = join(conf, 'policies');
    cpSync(join(ROOT, 'policies'), policies, { recursive: true });
    appendFileSync(join(policies, 'policy.csv'), '\ng, user:alice, group:incident-commanders\n');
    const rolePrefix = `rgf${process.pid % 10000}_`;
    return {
      postgres,
      kafka,
      target: { url: orders.url, rolePrefix },
      async scenario(name) {
        const marker = join(conf, `${name}.marker`);
        writeFileSync(marker, '');
        const runbooks = runbooksDir({ [FAULTS_RUNBOOK]: faultsRunbook(marker) });
        const dataDir = mkdtempSync(join(tmpdir(), `rungate-faults-${name}-`));
        dirs.push(runbooks, dataDir);
        const dbUrl = await createDatabase(postgres.url, `faults_${name}`);
        const topic = uniqueTopic(`faults-${name}`);
        const ports = { http: await freePort(), oidc: await freePort() };
        const options: StartOptions = {
          dataDir,
          ports,
          env: {
            DATABASE_URL: dbUrl,
            KAFKA_BROKERS: kafka.brokers,
            RUNGATE_AUDIT_TOPIC: topic,
            RUNGATE_AUDIT_RELAY_POLL_INTERVAL: '0.2',
            RUNGATE_RUNBOOKS_DIR: runbooks,
            RUNGATE_POLICY_DIR: policies,
            RUNGATE_TARGETS_FILE: join(conf, 'targets.yaml'),
            RUNGATE_TARGET_ROLE_PREFIX: rolePrefix,
            ORDERS_DB_ADMIN_URL: orders.url,
            // Markers are host files, which a sandboxed kernel cannot write.
            RUNGATE_KERNEL_PROVISIONER: 'process',
            RUNGATE_DB_CONNECT_TIMEOUT: '2',
            RUNGATE_DEMO_TARGET: 'false',
          },
        };
        return {
          dbUrl,
          topic,
          marker,
          options,
          start: (extraEnv = {}) =>
            startGateway({ ...options, env: { ...options.env, ...extraEnv } }),
        };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
