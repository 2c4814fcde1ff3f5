import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel, type IHeaders } from 'kafkajs';
import { waitFor } from './net';

/*
 * A real Apache Kafka broker (KRaft, one node acting as broker and controller) for the
 * medium and e2e tests. Its jars come from Maven Central through test/kafka/pom.xml and
 * are cached in .cache/kafka/libs; the local Maven repository is .cache/m2 so CI can
 * cache both.
 */

const repoRoot = resolve(__dirname, '..', '..');
const pomFile = join(repoRoot, 'test', 'kafka', 'pom.xml');
const log4jConfig = join(repoRoot, 'test', 'kafka', 'log4j2.properties');
const mavenRepo = join(repoRoot, '.cache', 'm2');
/** Directory holding every runtime jar of the broker (filled by Maven). */
export const kafkaLibsDir = join(repoRoot, '.cache', 'kafka', 'libs');
const stampName = '.pom.sha256';
/*
 * A dynamic class-data-sharing archive of the broker's classes, written by the first
 * broker that exits cleanly and used by every later JVM: it cuts the broker's start-up
 * from ~4 s to ~1.5 s. It lives beside the jars (the `*` class path only picks up .jar
 * files), so a new set of jars drops it too; a stale one is ignored by the JVM.
 */
const cdsArchiveName = '.broker.jsa';

const mavenTimeoutMs = 15 * 60_000;
const defaultReadyTimeoutMs = 90_000;
const defaultStopGraceMs = 15_000;
const probeIntervalMs = 100;
const logTailLines = 60;

/** Options of {@link startKafka}. */
export interface StartKafkaOptions {
  /** How long start-up (and each restart) may take before it fails. Default 90 s. */
  readonly readyTimeoutMs?: number;
  /** How long SIGTERM may take before SIGKILL. Default 15 s. */
  readonly stopGraceMs?: number;
  /** Extra broker properties, appended last so they override the defaults. */
  readonly properties?: Readonly<Record<string, string | number | boolean>>;
}

/**
 * A running single-node Kafka broker. The process and its data are separate: `halt`,
 * `kill` and `pause` act on the process only, so `start`/`restart` bring the same
 * broker (same ports, same log dir, same topics) back; `stop` ends it for good.
 */
export interface KafkaBroker {
  /** Bootstrap servers for clients: `127.0.0.1:<port>`. */
  readonly brokers: string;
  /** The broker's own log (stdout and stderr of the JVM); appended to across restarts. */
  readonly logFile: string;
  /** Temporary directory with server.properties, the data and the log. */
  readonly dir: string;
  /** Whether the JVM is running (paused counts as running). */
  readonly running: boolean;
  /** Starts the halted or killed broker again and waits until it answers. */
  start(): Promise<void>;
  /** Graceful shutdown (SIGTERM, SIGKILL after the grace period); keeps the data. */
  halt(): Promise<void>;
  /** Crash: SIGKILL, keeps the data. */
  kill(): Promise<void>;
  /** Freezes the JVM (SIGSTOP): connections stay open but nothing answers. */
  pause(): Promise<void>;
  /** Unfreezes a paused broker (SIGCONT). */
  resume(): Promise<void>;
  /** `halt` then `start`, on the same ports and data. */
  restart(): Promise<void>;
  /** Halts the broker and deletes its directory. Idempotent. */
  stop(): Promise<void>;
  /** The last lines of the broker's log, for error messages. */
  logTail(lines?: number): Promise<string>;
}

type BrokerState = 'running' | 'paused' | 'halted' | 'stopped';

/** Starts a fresh single-node KRaft broker on free loopback ports. */
export async function startKafka(options: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const libs = await ensureKafkaLibs();
  const [port, controllerPort] = await freePorts(2);
  const dir = await mkdtemp(join(tmpdir(), 'rungate-kafka-'));
  const broker = new KafkaBrokerProcess({
    libs,
    dir,
    port,
    controllerPort,
    readyTimeoutMs: options.readyTimeoutMs ?? defaultReadyTimeoutMs,
    stopGraceMs: options.stopGraceMs ?? defaultStopGraceMs,
  });
  try {
    await writeFile(
      broker.propertiesFile,
      serverProperties(dir, port, controllerPort, options.properties),
    );
    await broker.format();
    await broker.start();
  } catch (error) {
    await broker.stop();
    throw error;
  }
  return broker;
}

/**
 * Makes sure .cache/kafka/libs holds the jars of test/kafka/pom.xml, running Maven only
 * when the directory is missing or was filled from another version of the pom. Safe to
 * call from parallel processes: each downloads into its own directory and renames it
 * into place.
 */
export async function ensureKafkaLibs(): Promise<string> {
  libsReady ??= installKafkaLibs().finally(() => {
    libsReady = undefined;
  });
  return libsReady;
}

let libsReady: Promise<string> | undefined;

async function installKafkaLibs(): Promise<string> {
  const pomHash = createHash('sha256')
    .update(await readFile(pomFile))
    .digest('hex');
  if (await libsMatch(kafkaLibsDir, pomHash)) return kafkaLibsDir;

  process.stderr.write(
    '[test setup] fetching the Kafka broker jars from Maven Central (first run only)\n',
  );
  const staging = `${kafkaLibsDir}.tmp-${process.pid}-${randomUUID()}`;
  const result = await run(
    'mvn',
    [
      '-B',
      '-q',
      '-f',
      pomFile,
      `-Dmaven.repo.local=${mavenRepo}`,
      `-Dkafka.libs.dir=${staging}`,
      'dependency:copy-dependencies',
    ],
    mavenTimeoutMs,
  );
  if (result.code !== 0) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(
      `mvn could not fetch the Kafka jars (exit ${result.code}):\n${tail(result.output, logTailLines)}`,
    );
  }
  await writeFile(join(staging, stampName), pomHash);

  const previous = `${kafkaLibsDir}.old-${process.pid}-${randomUUID()}`;
  await rename(kafkaLibsDir, previous).catch(ignoreCode('ENOENT'));
  try {
    await rename(staging, kafkaLibsDir);
  } catch (error) {
    // Another process put its copy in place between our two renames; use it if it is current.
    if (!(await libsMatch(kafkaLibsDir, pomHash))) throw error;
  }
  await rm(staging, { recursive: true, force: true });
  await rm(previous, { recursive: true, force: true });
  return kafkaLibsDir;
}

async function libsMatch(dir: string, pomHash: string): Promise<boolean> {
  const stamp = await readFile(join(dir, stampName), 'utf8').catch(() => undefined);
  if (stamp?.trim() !== pomHash) return false;
  const jars = await readdir(dir);
  return jars.some((name) => name.startsWith('kafka_2.13-'));
}

interface BrokerSettings {
  readonly libs: string;
  readonly dir: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly readyTimeoutMs: number;
  readonly stopGraceMs: number;
}

class KafkaBrokerProcess implements KafkaBroker {
  readonly brokers: string;
  readonly logFile: string;
  readonly dir: string;
  readonly propertiesFile: string;
  private state: BrokerState = 'halted';
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly settings: BrokerSettings) {
    this.dir = settings.dir;
    this.brokers = `127.0.0.1:${settings.port}`;
    this.logFile = join(settings.dir, 'broker.log');
    this.propertiesFile = join(settings.dir, 'server.properties');
  }

  get running(): boolean {
    return this.state === 'running' || this.state === 'paused';
  }

  /** Writes the KRaft metadata (cluster id, bootstrap records) into the fresh log dir. */
  async format(): Promise<void> {
    const result = await run(
      javaBinary(),
      [
        ...(await this.jvmArgs()).args,
        'kafka.tools.StorageTool',
        'format',
        '--cluster-id',
        newClusterId(),
        '--config',
        this.propertiesFile,
        '--ignore-formatted',
      ],
      this.settings.readyTimeoutMs,
    );
    await writeFile(this.logFile, result.output, { flag: 'a' });
    if (result.code !== 0) {
      throw new Error(
        `kafka StorageTool format failed (exit ${result.code}):\n${tail(result.output, logTailLines)}`,
      );
    }
  }

  async start(): Promise<void> {
    this.assertState('start', ['halted']);
    const jvm = await this.jvmArgs({ writeArchive: true });
    const out = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(javaBinary(), [...jvm.args, 'kafka.Kafka', this.propertiesFile], {
        cwd: this.dir,
        stdio: ['ignore', out, out],
      });
    } finally {
      closeSync(out);
    }
    this.child = child;
    this.state = 'running';
    liveChildren.add(child);
    this.exited = new Promise((done) => {
      child.once('exit', () => {
        liveChildren.delete(child);
        if (this.child === child) {
          this.child = undefined;
          if (this.state !== 'stopped') this.state = 'halted';
        }
        if (jvm.archiveOut) {
          publishArchive(jvm.archiveOut, join(this.settings.libs, cdsArchiveName)).then(done, done);
        } else {
          done();
        }
      });
      // A spawn failure (no java) emits 'error' and may never emit 'exit'.
      child.once('error', () => {
        liveChildren.delete(child);
        if (this.child === child) {
          this.child = undefined;
          this.state = 'halted';
        }
        done();
      });
    });
    try {
      await this.waitUntilReady();
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  async halt(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGTERM');
    // A stopped process only acts on SIGTERM once it runs again.
    if (this.state === 'paused') child.kill('SIGCONT');
    const graceful = await Promise.race([
      this.exited.then(() => true),
      delay(this.settings.stopGraceMs).then(() => false),
    ]);
    if (!graceful) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.exited;
  }

  async pause(): Promise<void> {
    this.assertState('pause', ['running']);
    const child = this.child;
    child?.kill('SIGSTOP');
    this.state = 'paused';
    // kill() only queues the signal: on a busy machine a JVM thread can still
    // answer a request after it returns. Paused means every thread is stopped.
    if (child?.pid !== undefined) {
      const pid = child.pid;
      await waitFor(`broker ${pid} to stop`, () => allThreadsStopped(pid), 10_000, 10);
    }
  }

  async resume(): Promise<void> {
    this.assertState('resume', ['paused']);
    this.child?.kill('SIGCONT');
    this.state = 'running';
    await Promise.resolve();
  }

  async restart(): Promise<void> {
    await this.halt();
    await this.start();
  }

  async stop(): Promise<void> {
    await this.halt();
    this.state = 'stopped';
    if (process.env.RUNGATE_KAFKA_KEEP_DIR !== '1') {
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  async logTail(lines = logTailLines): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return tail(text, lines);
  }

  /**
   * JVM options shared by the storage tool and the broker. `writeArchive` lets a broker
   * record the class-data-sharing archive at exit when there is none yet.
   */
  private async jvmArgs(
    options: { writeArchive?: boolean } = {},
  ): Promise<{ args: string[]; archiveOut?: string }> {
    const archive = join(this.settings.libs, cdsArchiveName);
    const args = [
      '-Xms128m',
      '-Xmx512m',
      // Start-up time matters more than peak throughput for a test broker.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Xshare:auto',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${log4jConfig}`,
    ];
    let archiveOut: string | undefined;
    if (await pathExists(archive)) {
      args.push(`-XX:SharedArchiveFile=${archive}`);
    } else if (options.writeArchive) {
      archiveOut = `${archive}.${process.pid}-${randomUUID()}.tmp`;
      args.push(`-XX:ArchiveClassesAtExit=${archiveOut}`);
    }
    args.push('-cp', join(this.settings.libs, '*'));
    return { args, archiveOut };
  }

  private assertState(action: string, allowed: readonly BrokerState[]): void {
    if (!allowed.includes(this.state)) {
      throw new Error(`cannot ${action} the Kafka broker at ${this.brokers}: it is ${this.state}`);
    }
  }

  /** Polls with a real client until the broker lists its topics, the process dies or time runs out. */
  private async waitUntilReady(): Promise<void> {
    const deadline = Date.now() + this.settings.readyTimeoutMs;
    let lastError: unknown;
    for (;;) {
      if (!this.child) {
        throw new Error(
          `Kafka broker exited during start-up; log ${this.logFile}:\n${await this.logTail()}`,
        );
      }
      try {
        await probe(this.brokers);
        return;
      } catch (error) {
        lastError = error;
      }
      if (Date.now() >= deadline) {
        const reason = lastError instanceof Error ? lastError.message : String(lastError);
        throw new Error(
          `Kafka broker at ${this.brokers} not ready after ${this.settings.readyTimeoutMs} ms (${reason}); ` +
            `log ${this.logFile}:\n${await this.logTail()}`,
        );
      }
      await Promise.race([delay(probeIntervalMs), this.exited]);
    }
  }
}

/** Moves a freshly dumped archive into place; a JVM that was killed leaves none, which is fine. */
async function publishArchive(dumped: string, archive: string): Promise<void> {
  try {
    await rename(dumped, archive);
  } catch {
    await rm(dumped, { force: true });
  }
}

async function probe(brokers: string): Promise<void> {
  const admin = new Kafka({
    clientId: 'rungate-kafka-probe',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    if (cluster.brokers.length === 0) throw new Error('no broker registered yet');
    await admin.listTopics();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

function serverProperties(
  dir: string,
  port: number,
  controllerPort: number,
  extra: Readonly<Record<string, string | number | boolean>> = {},
): string {
  const properties: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    // A static voter set: no --standalone/--initial-controllers needed when formatting.
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'auto.create.topics.enable': true,
    // One node: internal topics cannot have replicas, and one partition each is created
    // much faster than the default 50, which the first consumer group would wait for.
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 1,
    'share.coordinator.state.topic.replication.factor': 1,
    'share.coordinator.state.topic.min.isr': 1,
    'group.initial.rebalance.delay.ms': 0,
    // After a crash the new broker process cannot register until the controller expires
    // the old process's session (default 9 s); a short session makes kill() + start() quick.
    'broker.heartbeat.interval.ms': 500,
    'broker.session.timeout.ms': 3_000,
    ...extra,
  };
  return Object.entries(properties)
    .map(([key, value]) => `${key}=${String(value)}`)
    .join('\n')
    .concat('\n');
}

/** A Kafka cluster id: 16 random bytes, base64url without padding (Kafka's `Uuid`). */
function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // A leading '-' would be read as an option by the StorageTool's argument parser.
    if (!id.startsWith('-')) return id;
  }
}

function javaBinary(): string {
  const home = process.env.JAVA_HOME;
  return home ? join(home, 'bin', 'java') : 'java';
}

/** Ports free right now on 127.0.0.1, all distinct (each is held until all are found). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((ok, fail) => {
          const server = createServer();
          server.once('error', fail);
          server.listen(0, '127.0.0.1', () => ok(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(
    servers.map((server) => new Promise<void>((done) => server.close(() => done()))),
  );
  return ports;
}

/**
 * JVMs we started, killed if the test process exits without stopping them. Kept on
 * globalThis so that re-evaluating this module (Vitest isolates test files) registers
 * one exit hook per process, not one per file.
 */
const liveChildren: Set<ChildProcess> = (() => {
  const key = Symbol.for('rungate.test.kafka.liveChildren');
  const registry = globalThis as typeof globalThis & { [key]?: Set<ChildProcess> };
  const existing = registry[key];
  if (existing) return existing;
  const created = new Set<ChildProcess>();
  registry[key] = created;
  process.once('exit', () => {
    for (const child of created) child.kill('SIGKILL');
  });
  return created;
})();

interface RunResult {
  readonly code: number;
  readonly output: string;
}

/** Whether every thread of `pid` is in the stopped state ('T' in /proc/<pid>/task/<tid>/stat). */
async function allThreadsStopped(pid: number): Promise<boolean> {
  const tasks = await readdir(`/proc/${pid}/task`);
  for (const tid of tasks) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (stat === undefined) continue; // the thread ended
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state !== 'T' && state !== 't') return false;
  }
  return true;
}

function run(command: string, args: readonly string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => chunks.push(chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      fail(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      done({ code: code ?? (signal ? 128 : 1), output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms).unref());
}

function ignoreCode(code: string): (error: unknown) => void {
  return (error) => {
    if (!(error instanceof Error && 'code' in error && error.code === code)) throw error;
  };
}

// ---------------------------------------------------------------------------------------
// Client helpers for tests that talk to the broker.

/** A KafkaJS client that only logs errors, with fast retries suited to tests. */
export function testKafka(brokers: string, clientId = 'rungate-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/** A topic name no other test uses. */
export function uniqueTopic(prefix = 'test'): string {
  return `${prefix}.${randomUUID()}`;
}

/** Creates a topic and waits for its partition leaders. */
export async function createTopic(
  brokers: string,
  topic: string,
  numPartitions = 1,
): Promise<void> {
  const admin = testKafka(brokers, 'rungate-test-admin').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** A consumed record with key, value and headers decoded as UTF-8. */
export interface ConsumedMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string | string[]>>;
}

/** Options of {@link readMessages}. */
export interface ReadMessagesOptions {
  readonly brokers: string;
  readonly topic: string;
  /** Resolve as soon as this many messages arrived. */
  readonly count: number;
  /** Reject (listing what did arrive) when `count` is not reached in time. Default 30 s. */
  readonly timeoutMs?: number;
  /** Consumer group; a fresh one (reading from the beginning) by default. */
  readonly groupId?: string;
}

/** Reads a topic from the beginning with a fresh consumer group until `count` messages arrived. */
export async function readMessages(options: ReadMessagesOptions): Promise<ConsumedMessage[]> {
  const consumer = testKafka(options.brokers, 'rungate-test-reader').consumer({
    groupId: options.groupId ?? `rungate-test-${randomUUID()}`,
    maxWaitTimeInMs: 200,
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const received: ConsumedMessage[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    // The topic may not exist yet when the reader is faster than the first writer, and
    // subscribing to a missing topic fails; creating it first (a no-op if it exists) does not.
    await createTopic(options.brokers, options.topic);
    await consumer.connect();
    await consumer.subscribe({ topic: options.topic, fromBeginning: true });
    await new Promise<void>((done, fail) => {
      timer = setTimeout(() => {
        fail(
          new Error(
            `received ${received.length} of ${options.count} messages from ${options.topic} within ${timeoutMs} ms: ` +
              JSON.stringify(received.map((message) => message.value)),
          ),
        );
      }, timeoutMs);
      consumer
        .run({
          eachMessage: async ({ topic, partition, message }) => {
            received.push({
              topic,
              partition,
              offset: message.offset,
              key: message.key?.toString('utf8') ?? null,
              value: message.value?.toString('utf8') ?? null,
              headers: decodeHeaders(message.headers),
            });
            if (received.length >= options.count) done();
          },
        })
        .catch(fail);
    });
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return received;
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string | string[]> {
  const decoded: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    decoded[name] = Array.isArray(value) ? value.map((item) => item.toString()) : value.toString();
  }
  return decoded;
}

/** For callers that want to check a path exists (e.g. that `stop` removed the directory). */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
