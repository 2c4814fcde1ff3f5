import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AppConfig, ApprovalsConfig, AuditConfig, AuditKafkaConfig } from './config.types';

/** Thrown with every problem found, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const MIB = 1024 * 1024;

/**
 * Builds the configuration from the environment and, when RUNGATE_CONFIG names one,
 * a YAML or JSON file whose keys are the same variable names (the environment wins).
 */
export function loadConfig(env: Env = process.env, rootDir = defaultRootDir()): AppConfig {
  const problems: string[] = [];
  const merged: Env = { ...readConfigFile(env.RUNGATE_CONFIG, rootDir, problems), ...env };
  const r = new Reader(merged, problems);

  const nodeEnv = r.oneOf(
    'NODE_ENV',
    ['development', 'production', 'test'] as const,
    'development',
  );
  const dataDir = r.path('RUNGATE_DATA_DIR', rootDir, '.data');
  const config: AppConfig = {
    nodeEnv,
    rootDir,
    dataDir,
    logLevel: r.oneOf(
      'RUNGATE_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      nodeEnv === 'test' ? 'warn' : 'info',
    ),
    http: {
      host: r.string('RUNGATE_HOST', '127.0.0.1'),
      port: r.int('RUNGATE_PORT', 8080, 0, 65535),
      bodyLimitBytes: r.int('RUNGATE_BODY_LIMIT_BYTES', 256 * 1024, 1024, 16 * 1024 * 1024),
    },
    database: {
      url: r.optionalSecret('DATABASE_URL', rootDir),
      poolSize: r.int('RUNGATE_DB_POOL_SIZE', 10, 1, 200),
      connectTimeoutMs: r.seconds('RUNGATE_DB_CONNECT_TIMEOUT', 5),
    },
    runbooks: {
      dir: r.path('RUNGATE_RUNBOOKS_DIR', rootDir, 'runbooks'),
      maxFileBytes: r.int('RUNGATE_RUNBOOK_MAX_BYTES', 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
    },
    kernels: {
      specDirs: r.pathList('RUNGATE_KERNELSPEC_DIRS', rootDir, ['.cache/kernelspecs']),
      defaultKernel: r.string('RUNGATE_KERNEL_NAME', 'python3'),
      poolSize: r.int('RUNGATE_KERNEL_POOL_SIZE', 2, 0, 64),
      startTimeoutMs: r.seconds('RUNGATE_KERNEL_START_TIMEOUT', 60),
      heartbeatIntervalMs: r.seconds('RUNGATE_KERNEL_HEARTBEAT_INTERVAL', 1),
      shutdownGraceMs: r.seconds('RUNGATE_KERNEL_SHUTDOWN_GRACE', 3),
      pythonPath: r.pathList('RUNGATE_KERNEL_PYTHONPATH', rootDir, ['kernels/python']),
      logCapBytes: r.int('RUNGATE_KERNEL_LOG_BYTES', 64 * 1024, 1024, 16 * 1024 * 1024),
      transport: r.oneOf('RUNGATE_KERNEL_TRANSPORT', ['ipc', 'tcp'] as const, 'ipc'),
      provisioner: r.oneOf(
        'RUNGATE_KERNEL_PROVISIONER',
        ['sandbox', 'process'] as const,
        'sandbox',
      ),
      acceptUnsandboxed: r.bool('RUNGATE_ACCEPT_UNSANDBOXED_KERNELS', false),
      sandbox: {
        network: r.oneOf('RUNGATE_SANDBOX_NETWORK', ['private', 'host'] as const, 'private'),
        user: r.string('RUNGATE_SANDBOX_USER', 'rungate-kernel'),
        readOnlyPaths: r.pathList('RUNGATE_SANDBOX_READONLY_PATHS', rootDir, []),
      },
      limits: {
        memoryBytes: r.int('RUNGATE_KERNEL_MEMORY_LIMIT_MB', 2048, 0, 1024 * 1024) * MIB,
        pids: r.int('RUNGATE_KERNEL_PIDS_LIMIT', 256, 0, 1_000_000),
        openFiles: r.int('RUNGATE_KERNEL_OPEN_FILES_LIMIT', 1024, 0, 1_000_000),
        cpuSecondsPerExecution: r.int('RUNGATE_KERNEL_CPU_SECONDS', 600, 0, 7 * 24 * 3600),
        tmpBytes: r.int('RUNGATE_KERNEL_TMP_SIZE_MB', 256, 1, 1024 * 1024) * MIB,
      },
    },
    sessions: {
      idleTimeoutMs: r.seconds('RUNGATE_SESSION_IDLE_TIMEOUT', 30 * 60),
      maxLifetimeMs: r.seconds('RUNGATE_SESSION_MAX_LIFETIME', 8 * 60 * 60),
      outputCapBytes: r.int('RUNGATE_OUTPUT_CAP_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
      cellTimeoutMs: r.seconds('RUNGATE_CELL_TIMEOUT', 15 * 60),
      maxQueuedExecutions: r.int('RUNGATE_MAX_QUEUED_EXECUTIONS', 16, 0, 1000),
      maxOpen: r.int('RUNGATE_MAX_SESSIONS', 32, 1, 10_000),
      maxOpenPerUser: r.int('RUNGATE_MAX_SESSIONS_PER_USER', 4, 1, 1000),
    },
    demoTarget: {
      enabled: r.bool('RUNGATE_DEMO_TARGET', nodeEnv !== 'production'),
      host: r.string('RUNGATE_DEMO_TARGET_HOST', '127.0.0.1'),
      port: r.int('RUNGATE_DEMO_TARGET_PORT', 8090, 0, 65535),
    },
    targets: {
      file: targetsFile(r.optionalString('RUNGATE_TARGETS_FILE'), rootDir, problems),
      rolePrefix: r.string('RUNGATE_TARGET_ROLE_PREFIX', 'rg_'),
      connectTimeoutMs: r.seconds('RUNGATE_TARGET_CONNECT_TIMEOUT', 5),
      embedded: [],
    },
    auth: {
      issuer: r.optionalString('OIDC_ISSUER'),
      audience: r.string('OIDC_AUDIENCE', 'urn:rungate'),
      groupsClaim: r.string('OIDC_GROUPS_CLAIM', 'groups'),
      introspectionClientId: r.optionalString('OIDC_CLIENT_ID'),
      introspectionClientSecret: r.optionalSecret('OIDC_CLIENT_SECRET', rootDir),
      cliClientId: r.string('OIDC_CLI_CLIENT_ID', 'rungate-cli'),
      stepUpMaxAgeSec: r.int('RUNGATE_STEP_UP_MAX_AGE_SECONDS', 900, 0, 7 * 24 * 3600),
      failureLimit: r.int('RUNGATE_AUTH_FAILURE_LIMIT', 50, 0, 1_000_000),
      failureWindowSec: r.int('RUNGATE_AUTH_FAILURE_WINDOW_SECONDS', 60, 1, 24 * 3600),
      devIssuerPort: r.int('RUNGATE_DEV_OIDC_PORT', 8081, 0, 65535),
      devIssuerHost: r.string('RUNGATE_DEV_OIDC_HOST', '127.0.0.1'),
    },
    policy: {
      dir: r.path('RUNGATE_POLICY_DIR', rootDir, 'policies'),
      watch: r.bool('RUNGATE_POLICY_WATCH', true),
    },
    audit: auditConfig(r, dataDir, rootDir, problems),
    approvals: approvalsConfig(r, rootDir, problems),
    web: webConfig(r, rootDir, problems),
  };
  if (config.kernels.heartbeatIntervalMs > 2000) {
    problems.push(
      'RUNGATE_KERNEL_HEARTBEAT_INTERVAL must be at most 2 s so a dead kernel is seen within 5 s',
    );
  }
  if (
    config.kernels.provisioner === 'process' &&
    nodeEnv === 'production' &&
    !config.kernels.acceptUnsandboxed
  ) {
    problems.push(
      "RUNGATE_KERNEL_PROVISIONER=process runs kernels unsandboxed: a cell can read the gateway's " +
        "secrets and reach other sessions' kernels. Production refuses it unless " +
        'RUNGATE_ACCEPT_UNSANDBOXED_KERNELS=true says the operator accepts that risk',
    );
  }
  if (!/^[a-z][a-z0-9_]{0,19}$/.test(config.targets.rolePrefix)) {
    problems.push(
      `RUNGATE_TARGET_ROLE_PREFIX must be 1 to 20 lowercase letters, digits or _ starting with a letter (got "${config.targets.rolePrefix}")`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** The `audit` section: Kafka when KAFKA_BROKERS is set, else the JSON-lines file sink. */
function auditConfig(r: Reader, dataDir: string, rootDir: string, problems: string[]): AuditConfig {
  const brokers = (r.optionalString('KAFKA_BROKERS') ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  for (const b of brokers) {
    if (!/^[^\s:]+:\d{1,5}$/.test(b)) problems.push(`KAFKA_BROKERS: "${b}" is not host:port`);
  }
  const mechanism = r.optionalString('KAFKA_SASL_MECHANISM')?.toLowerCase();
  let sasl: AuditKafkaConfig['sasl'];
  if (mechanism !== undefined) {
    const username = r.optionalString('KAFKA_SASL_USERNAME');
    const password = r.optionalSecret('KAFKA_SASL_PASSWORD', rootDir);
    if (mechanism !== 'plain' && mechanism !== 'scram-sha-256' && mechanism !== 'scram-sha-512') {
      problems.push(
        `KAFKA_SASL_MECHANISM must be plain, scram-sha-256 or scram-sha-512 (got "${mechanism}")`,
      );
    } else if (username === undefined || password === undefined) {
      problems.push('KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
    } else {
      sasl = { mechanism, username, password };
    }
  }
  const topic = r.string('RUNGATE_AUDIT_TOPIC', 'rungate.audit');
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(topic)) {
    problems.push(
      `RUNGATE_AUDIT_TOPIC must be 1 to 249 letters, digits, ".", "_" or "-" (got "${topic}")`,
    );
  }
  return {
    kafka:
      brokers.length === 0
        ? undefined
        : {
            brokers,
            clientId: r.string('KAFKA_CLIENT_ID', 'rungate'),
            ssl: r.bool('KAFKA_SSL', false),
            sasl,
          },
    topic,
    createTopic: r.bool('RUNGATE_AUDIT_CREATE_TOPIC', true),
    topicPartitions: r.int('RUNGATE_AUDIT_TOPIC_PARTITIONS', 6, 1, 1000),
    topicReplicationFactor: r.int('RUNGATE_AUDIT_TOPIC_REPLICATION', 1, 1, 10),
    file: r.path('RUNGATE_AUDIT_FILE', rootDir, resolve(dataDir, 'audit.jsonl')),
    retentionMs: r.int('RUNGATE_AUDIT_RETENTION', 7 * 24 * 3600, 0, 10 * 365 * 24 * 3600) * 1000,
    backlogReadyThreshold: r.int('RUNGATE_AUDIT_BACKLOG_READY_THRESHOLD', 10_000, 1, 100_000_000),
    backlogReadyMaxAgeMs: r.seconds('RUNGATE_AUDIT_BACKLOG_READY_MAX_AGE', 300),
    recordOutputs: r.bool('RUNGATE_AUDIT_RECORD_OUTPUTS', false),
    relayPollIntervalMs: r.seconds('RUNGATE_AUDIT_RELAY_POLL_INTERVAL', 1),
    relayBatchSize: r.int('RUNGATE_AUDIT_RELAY_BATCH', 500, 1, 10_000),
    source: r.string('RUNGATE_AUDIT_SOURCE', `urn:rungate:${hostname()}`),
  };
}

/**
 * The `approvals` section. A webhook URL needs a secret (inline, or `_FILE`): an
 * unsigned notification could be forged by anyone who can reach the receiver.
 */
function approvalsConfig(r: Reader, rootDir: string, problems: string[]): ApprovalsConfig {
  const url = r.optionalString('RUNGATE_APPROVAL_WEBHOOK_URL');
  const inline = r.optionalString('RUNGATE_APPROVAL_WEBHOOK_SECRET');
  const file = r.optionalString('RUNGATE_APPROVAL_WEBHOOK_SECRET_FILE');
  let webhook: ApprovalsConfig['webhook'];
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      problems.push('RUNGATE_APPROVAL_WEBHOOK_URL is not a valid URL');
    }
    if (parsed !== undefined && parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      problems.push('RUNGATE_APPROVAL_WEBHOOK_URL must be an http or https URL');
    }
    if (inline !== undefined && file !== undefined) {
      problems.push(
        'set RUNGATE_APPROVAL_WEBHOOK_SECRET or RUNGATE_APPROVAL_WEBHOOK_SECRET_FILE, not both',
      );
    } else if (inline === undefined && file === undefined) {
      problems.push(
        'RUNGATE_APPROVAL_WEBHOOK_URL needs RUNGATE_APPROVAL_WEBHOOK_SECRET or RUNGATE_APPROVAL_WEBHOOK_SECRET_FILE',
      );
    } else if (file !== undefined && !existsSync(resolve(rootDir, file))) {
      problems.push(`RUNGATE_APPROVAL_WEBHOOK_SECRET_FILE: no file at ${resolve(rootDir, file)}`);
    }
    webhook = {
      url,
      secret: file !== undefined ? { file: resolve(rootDir, file) } : { value: inline ?? '' },
      maxAttempts: r.int('RUNGATE_APPROVAL_WEBHOOK_ATTEMPTS', 6, 1, 20),
      initialBackoffMs: r.seconds('RUNGATE_APPROVAL_WEBHOOK_BACKOFF', 1),
      maxBackoffMs: r.seconds('RUNGATE_APPROVAL_WEBHOOK_MAX_BACKOFF', 60),
      timeoutMs: r.seconds('RUNGATE_APPROVAL_WEBHOOK_TIMEOUT', 5),
      format: r.oneOf('RUNGATE_APPROVAL_WEBHOOK_FORMAT', ['rungate', 'slack'] as const, 'rungate'),
    };
  }
  return {
    pendingTtlMs: r.seconds('RUNGATE_APPROVAL_PENDING_TTL', 3600),
    useWindowMs: r.seconds('RUNGATE_APPROVAL_USE_WINDOW', 900),
    sweepIntervalMs: r.seconds('RUNGATE_APPROVAL_SWEEP_INTERVAL', 15),
    webhook,
  };
}

/**
 * The `web` section. A public URL must be a bare http(s) origin: the redirect URI and
 * the CSRF origin check are built from it, and a path would put the session cookie
 * and the callback in different places.
 */
function webConfig(r: Reader, rootDir: string, problems: string[]): AppConfig['web'] {
  let publicUrl = r.optionalString('RUNGATE_PUBLIC_URL');
  if (publicUrl !== undefined) {
    const parsed = URL.parse(publicUrl);
    if (
      parsed === null ||
      (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') ||
      parsed.username !== '' ||
      parsed.password !== '' ||
      parsed.search !== '' ||
      parsed.hash !== '' ||
      parsed.pathname !== '/'
    ) {
      problems.push(
        `RUNGATE_PUBLIC_URL must be an http(s) origin without path, query or credentials, such as https://rungate.example.com (got "${publicUrl}")`,
      );
    } else {
      publicUrl = parsed.origin;
    }
  }
  const sessionMaxLifetimeMs = r.seconds('RUNGATE_WEB_SESSION_MAX_LIFETIME', 12 * 3600);
  const sessionIdleTimeoutMs = r.seconds('RUNGATE_WEB_SESSION_IDLE_TIMEOUT', 3600);
  if (sessionIdleTimeoutMs > sessionMaxLifetimeMs) {
    problems.push(
      'RUNGATE_WEB_SESSION_IDLE_TIMEOUT must not be longer than RUNGATE_WEB_SESSION_MAX_LIFETIME',
    );
  }
  const scopes = r.string('OIDC_WEB_SCOPES', 'openid profile email offline_access');
  if (!scopes.split(/\s+/).includes('openid')) {
    problems.push(`OIDC_WEB_SCOPES must include openid (got "${scopes}")`);
  }
  return {
    publicUrl,
    clientId: r.string('OIDC_WEB_CLIENT_ID', 'rungate-web'),
    clientSecret: r.optionalSecret('OIDC_WEB_CLIENT_SECRET', rootDir),
    scopes,
    sessionMaxLifetimeMs,
    sessionIdleTimeoutMs,
    appDir: r.path('RUNGATE_WEB_APP_DIR', rootDir, 'dist/webapp'),
  };
}

export function defaultRootDir(): string {
  // dist/config/ or src/config/ → repository root
  return resolve(__dirname, '..', '..');
}

/**
 * The targets file: a named one must exist; the default (targets.yaml in the root) is
 * optional, and without it only the demo target is configured.
 */
function targetsFile(
  named: string | undefined,
  rootDir: string,
  problems: string[],
): string | undefined {
  if (named === undefined) {
    const fallback = resolve(rootDir, 'targets.yaml');
    return existsSync(fallback) ? fallback : undefined;
  }
  const path = resolve(rootDir, named);
  if (!existsSync(path)) problems.push(`RUNGATE_TARGETS_FILE: no file at ${path}`);
  return path;
}

function readConfigFile(file: string | undefined, rootDir: string, problems: string[]): Env {
  if (!file) return {};
  const path = isAbsolute(file) ? file : resolve(rootDir, file);
  if (!existsSync(path)) {
    problems.push(`RUNGATE_CONFIG: no file at ${path}`);
    return {};
  }
  try {
    const parsed: unknown = parseYaml(readFileSync(path, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      problems.push(`RUNGATE_CONFIG: ${path} must hold a mapping of VARIABLE: value`);
      return {};
    }
    const out: Env = {};
    for (const [k, v] of Object.entries(parsed)) {
      if (v === null || typeof v === 'object') {
        problems.push(`RUNGATE_CONFIG: ${k} must be a scalar`);
      } else {
        out[k] = String(v);
      }
    }
    return out;
  } catch (err) {
    problems.push(`RUNGATE_CONFIG: ${path} is not valid YAML/JSON (${(err as Error).message})`);
    return {};
  }
}

class Reader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
  ) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  /**
   * A secret, given inline (`NAME`) or in a file (`NAME_FILE`, as container platforms
   * mount secrets; relative to `rootDir`), never both. The file's last line break is
   * not part of the secret.
   */
  optionalSecret(name: string, rootDir: string): string | undefined {
    const inline = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (file === undefined) return inline;
    if (inline !== undefined) {
      this.problems.push(`set ${name} or ${name}_FILE, not both`);
      return undefined;
    }
    const path = resolve(rootDir, file);
    let value: string;
    try {
      value = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      this.problems.push(
        `${name}_FILE: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
      return undefined;
    }
    if (value === '') this.problems.push(`${name}_FILE: ${path} is empty`);
    return value === '' ? undefined : value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max} (got "${v}")`);
      return fallback;
    }
    return n;
  }

  /** A duration given in seconds (fractions allowed), returned in milliseconds. */
  seconds(name: string, fallbackSeconds: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallbackSeconds * 1000;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > 7 * 24 * 3600) {
      this.problems.push(
        `${name} must be a number of seconds above 0 and at most a week (got "${v}")`,
      );
      return fallbackSeconds * 1000;
    }
    return Math.round(n * 1000);
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name} must be true or false (got "${v}")`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${v}")`);
    return fallback;
  }

  path(name: string, rootDir: string, fallback: string): string {
    return resolve(rootDir, this.raw(name) ?? fallback);
  }

  pathList(name: string, rootDir: string, fallback: string[]): string[] {
    const v = this.raw(name);
    const parts = v === undefined ? fallback : v.split(':').filter((p) => p.length > 0);
    return parts.map((p) => resolve(rootDir, p));
  }
}
