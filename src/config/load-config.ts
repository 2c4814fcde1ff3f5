import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type {
  AppConfig,
  ApprovalsConfig,
  AuditConfig,
  AuditKafkaConfig,
  RunbooksGitConfig,
} from './config.types';
import {
  isSettingName,
  SETTINGS,
  type Setting,
  type SettingName,
  type SettingNameOf,
  type Settings,
} from './settings';

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
 * Every setting is declared, with its default and bounds, in `settings.ts`: the reader
 * takes only names from there, and `docs/configuration.md` is generated from it.
 */
export function loadConfig(env: Env = process.env, rootDir = defaultRootDir()): AppConfig {
  const problems: string[] = [];
  const merged: Env = { ...readConfigFile(env[CONFIG_FILE], rootDir, problems), ...env };
  const r = new Reader(merged, problems, rootDir);

  const nodeEnv = r.oneOf('NODE_ENV');
  const dataDir = r.path('RUNGATE_DATA_DIR');
  const config: AppConfig = {
    nodeEnv,
    rootDir,
    dataDir,
    logLevel: r.oneOf('RUNGATE_LOG_LEVEL', nodeEnv === 'test' ? 'warn' : 'info'),
    http: {
      host: r.string('RUNGATE_HOST'),
      port: r.int('RUNGATE_PORT'),
      bodyLimitBytes: r.int('RUNGATE_BODY_LIMIT_BYTES'),
      corsOrigins: corsOrigins(r.optionalString('RUNGATE_CORS_ORIGINS'), problems),
      rateLimit: {
        perPrincipal: r.int('RUNGATE_RATE_LIMIT_PER_PRINCIPAL'),
        perAddress: r.int('RUNGATE_RATE_LIMIT_PER_ADDRESS'),
        windowSec: r.int('RUNGATE_RATE_LIMIT_WINDOW_SECONDS'),
      },
    },
    database: {
      url: r.optionalSecret('DATABASE_URL'),
      poolSize: r.int('RUNGATE_DB_POOL_SIZE'),
      connectTimeoutMs: r.seconds('RUNGATE_DB_CONNECT_TIMEOUT'),
    },
    runbooks: {
      dir: r.path('RUNGATE_RUNBOOKS_DIR'),
      maxFileBytes: r.int('RUNGATE_RUNBOOK_MAX_BYTES'),
      git: runbooksGit(r, problems),
    },
    kernels: {
      specDirs: r.pathList('RUNGATE_KERNELSPEC_DIRS'),
      defaultKernel: r.string('RUNGATE_KERNEL_NAME'),
      poolSize: r.int('RUNGATE_KERNEL_POOL_SIZE'),
      startTimeoutMs: r.seconds('RUNGATE_KERNEL_START_TIMEOUT'),
      heartbeatIntervalMs: r.seconds('RUNGATE_KERNEL_HEARTBEAT_INTERVAL'),
      shutdownGraceMs: r.seconds('RUNGATE_KERNEL_SHUTDOWN_GRACE'),
      pythonPath: r.pathList('RUNGATE_KERNEL_PYTHONPATH'),
      logCapBytes: r.int('RUNGATE_KERNEL_LOG_BYTES'),
      transport: r.oneOf('RUNGATE_KERNEL_TRANSPORT'),
      provisioner: r.oneOf('RUNGATE_KERNEL_PROVISIONER'),
      acceptUnsandboxed: r.bool('RUNGATE_ACCEPT_UNSANDBOXED_KERNELS'),
      sandbox: {
        network: r.oneOf('RUNGATE_SANDBOX_NETWORK'),
        user: r.string('RUNGATE_SANDBOX_USER'),
        readOnlyPaths: r.pathList('RUNGATE_SANDBOX_READONLY_PATHS'),
      },
      limits: {
        memoryBytes: r.int('RUNGATE_KERNEL_MEMORY_LIMIT_MB') * MIB,
        pids: r.int('RUNGATE_KERNEL_PIDS_LIMIT'),
        openFiles: r.int('RUNGATE_KERNEL_OPEN_FILES_LIMIT'),
        cpuSecondsPerExecution: r.int('RUNGATE_KERNEL_CPU_SECONDS'),
        tmpBytes: r.int('RUNGATE_KERNEL_TMP_SIZE_MB') * MIB,
      },
    },
    sessions: {
      idleTimeoutMs: r.seconds('RUNGATE_SESSION_IDLE_TIMEOUT'),
      maxLifetimeMs: r.seconds('RUNGATE_SESSION_MAX_LIFETIME'),
      outputCapBytes: r.int('RUNGATE_OUTPUT_CAP_BYTES'),
      cellTimeoutMs: r.seconds('RUNGATE_CELL_TIMEOUT'),
      maxQueuedExecutions: r.int('RUNGATE_MAX_QUEUED_EXECUTIONS'),
      maxOpen: r.int('RUNGATE_MAX_SESSIONS'),
      maxOpenPerUser: r.int('RUNGATE_MAX_SESSIONS_PER_USER'),
      shutdownGraceMs: r.seconds('RUNGATE_SHUTDOWN_GRACE_SECONDS'),
    },
    replicas: {
      advertiseUrl: advertiseUrl(r.optionalString('RUNGATE_ADVERTISE_URL'), problems),
      secret: r.optionalSecret('RUNGATE_REPLICA_SECRET'),
      heartbeatIntervalMs: r.seconds('RUNGATE_INSTANCE_HEARTBEAT_INTERVAL'),
      staleAfterMs: r.seconds('RUNGATE_INSTANCE_STALE_AFTER'),
    },
    demoTarget: {
      enabled: r.bool('RUNGATE_DEMO_TARGET', nodeEnv !== 'production'),
      host: r.string('RUNGATE_DEMO_TARGET_HOST'),
      port: r.int('RUNGATE_DEMO_TARGET_PORT'),
    },
    targets: {
      file: targetsFile(r.optionalString('RUNGATE_TARGETS_FILE'), rootDir, problems),
      rolePrefix: r.string('RUNGATE_TARGET_ROLE_PREFIX'),
      connectTimeoutMs: r.seconds('RUNGATE_TARGET_CONNECT_TIMEOUT'),
      statementTimeoutMs: r.seconds('RUNGATE_TARGET_STATEMENT_TIMEOUT'),
      embedded: [],
    },
    auth: {
      issuer: r.optionalString('OIDC_ISSUER'),
      audience: r.string('OIDC_AUDIENCE'),
      groupsClaim: r.string('OIDC_GROUPS_CLAIM'),
      httpTimeoutMs: r.seconds('OIDC_HTTP_TIMEOUT'),
      introspectionClientId: r.optionalString('OIDC_CLIENT_ID'),
      introspectionClientSecret: r.optionalSecret('OIDC_CLIENT_SECRET'),
      cliClientId: r.string('OIDC_CLI_CLIENT_ID'),
      stepUpMaxAgeSec: r.int('RUNGATE_STEP_UP_MAX_AGE_SECONDS'),
      failureLimit: r.int('RUNGATE_AUTH_FAILURE_LIMIT'),
      failureWindowSec: r.int('RUNGATE_AUTH_FAILURE_WINDOW_SECONDS'),
      devIssuerPort: r.int('RUNGATE_DEV_OIDC_PORT'),
      devIssuerHost: r.string('RUNGATE_DEV_OIDC_HOST'),
    },
    policy: {
      dir: r.path('RUNGATE_POLICY_DIR'),
      watch: r.bool('RUNGATE_POLICY_WATCH'),
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
    const password = r.optionalSecret('KAFKA_SASL_PASSWORD');
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
  const topic = r.string('RUNGATE_AUDIT_TOPIC');
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
            clientId: r.string('KAFKA_CLIENT_ID'),
            connectionTimeoutMs: r.seconds('KAFKA_CONNECTION_TIMEOUT'),
            requestTimeoutMs: r.seconds('KAFKA_REQUEST_TIMEOUT'),
            ssl: r.bool('KAFKA_SSL'),
            sasl,
          },
    topic,
    createTopic: r.bool('RUNGATE_AUDIT_CREATE_TOPIC'),
    topicPartitions: r.int('RUNGATE_AUDIT_TOPIC_PARTITIONS'),
    topicReplicationFactor: r.int('RUNGATE_AUDIT_TOPIC_REPLICATION'),
    file: r.path('RUNGATE_AUDIT_FILE', resolve(dataDir, 'audit.jsonl')),
    retentionMs: r.int('RUNGATE_AUDIT_RETENTION') * 1000,
    backlogReadyThreshold: r.int('RUNGATE_AUDIT_BACKLOG_READY_THRESHOLD'),
    backlogReadyMaxAgeMs: r.seconds('RUNGATE_AUDIT_BACKLOG_READY_MAX_AGE'),
    recordOutputs: r.bool('RUNGATE_AUDIT_RECORD_OUTPUTS'),
    relayPollIntervalMs: r.seconds('RUNGATE_AUDIT_RELAY_POLL_INTERVAL'),
    relayBatchSize: r.int('RUNGATE_AUDIT_RELAY_BATCH'),
    source: r.string('RUNGATE_AUDIT_SOURCE', `urn:rungate:${hostname()}`),
    cursorSecret: r.optionalSecret('RUNGATE_CURSOR_SECRET'),
  };
}

/**
 * The `approvals` section. A webhook URL needs a secret (inline, or `_FILE`): an
 * unsigned notification could be forged by anyone who can reach the receiver.
 */
function approvalsConfig(r: Reader, rootDir: string, problems: string[]): ApprovalsConfig {
  const url = r.optionalString('RUNGATE_APPROVAL_WEBHOOK_URL');
  // Both forms given is reported by the reader (and leaves neither).
  const { inline, file, both } = r.secretForms('RUNGATE_APPROVAL_WEBHOOK_SECRET');
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
    if (both) {
      // reported by the reader
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
      maxAttempts: r.int('RUNGATE_APPROVAL_WEBHOOK_ATTEMPTS'),
      initialBackoffMs: r.seconds('RUNGATE_APPROVAL_WEBHOOK_BACKOFF'),
      maxBackoffMs: r.seconds('RUNGATE_APPROVAL_WEBHOOK_MAX_BACKOFF'),
      timeoutMs: r.seconds('RUNGATE_APPROVAL_WEBHOOK_TIMEOUT'),
      format: r.oneOf('RUNGATE_APPROVAL_WEBHOOK_FORMAT'),
    };
  }
  return {
    pendingTtlMs: r.seconds('RUNGATE_APPROVAL_PENDING_TTL'),
    useWindowMs: r.seconds('RUNGATE_APPROVAL_USE_WINDOW'),
    sweepIntervalMs: r.seconds('RUNGATE_APPROVAL_SWEEP_INTERVAL'),
    readWindowMs: r.int('RUNGATE_APPROVAL_READ_WINDOW') * 1000,
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
  const sessionMaxLifetimeMs = r.seconds('RUNGATE_WEB_SESSION_MAX_LIFETIME');
  const sessionIdleTimeoutMs = r.seconds('RUNGATE_WEB_SESSION_IDLE_TIMEOUT');
  if (sessionIdleTimeoutMs > sessionMaxLifetimeMs) {
    problems.push(
      'RUNGATE_WEB_SESSION_IDLE_TIMEOUT must not be longer than RUNGATE_WEB_SESSION_MAX_LIFETIME',
    );
  }
  const scopes = r.string('OIDC_WEB_SCOPES');
  if (!scopes.split(/\s+/).includes('openid')) {
    problems.push(`OIDC_WEB_SCOPES must include openid (got "${scopes}")`);
  }
  return {
    publicUrl,
    clientId: r.string('OIDC_WEB_CLIENT_ID'),
    clientSecret: r.optionalSecret('OIDC_WEB_CLIENT_SECRET'),
    scopes,
    sessionMaxLifetimeMs,
    sessionIdleTimeoutMs,
    appDir: r.path('RUNGATE_WEB_APP_DIR'),
  };
}

/** `RUNGATE_CORS_ORIGINS`: comma-separated bare http(s) origins, as browsers send them. */
function corsOrigins(value: string | undefined, problems: string[]): string[] {
  const out: string[] = [];
  for (const item of (value ?? '').split(',').map((o) => o.trim())) {
    if (item === '') continue;
    const parsed = URL.parse(item);
    if (
      parsed === null ||
      (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') ||
      parsed.origin !== item
    ) {
      problems.push(
        `RUNGATE_CORS_ORIGINS: "${item}" is not an http(s) origin such as https://ops.example.com (no path, no trailing slash)`,
      );
    } else {
      out.push(item);
    }
  }
  return out;
}

/** `RUNGATE_ADVERTISE_URL`: an http(s) origin; a trailing slash is dropped. */
function advertiseUrl(value: string | undefined, problems: string[]): string | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const parsed = URL.parse(value.trim());
  if (
    parsed === null ||
    (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') ||
    parsed.username !== '' ||
    parsed.password !== '' ||
    (parsed.pathname !== '/' && parsed.pathname !== '') ||
    parsed.search !== ''
  ) {
    problems.push(
      `RUNGATE_ADVERTISE_URL must be an http(s) origin without path, query or credentials, such as http://10.0.3.7:8080 (got "${value}")`,
    );
    return undefined;
  }
  return parsed.origin;
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
      if (!isConfigKey(k)) {
        // A misspelt key would otherwise leave its setting at the default, silently.
        problems.push(`RUNGATE_CONFIG: ${k} is not a setting (see docs/configuration.md)`);
      } else if (v === null || typeof v === 'object') {
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

/** A setting's name, or `<NAME>_FILE` of a secret. */
function isConfigKey(key: string): boolean {
  if (isSettingName(key)) return true;
  const secret = key.endsWith('_FILE') ? key.slice(0, -'_FILE'.length) : undefined;
  return secret !== undefined && isSettingName(secret) && SETTINGS[secret].type === 'secret';
}

type EnumValue<N extends SettingNameOf<'enum'>> = Settings[N]['values'][number];

/** The setting that names the configuration file, read before anything else. */
const CONFIG_FILE: SettingName = 'RUNGATE_CONFIG';

/** A week: the longest duration a `seconds` setting takes. */
const MAX_SECONDS = 7 * 24 * 3600;

/**
 * Reads settings by their name in {@link SETTINGS}, with the table's default and
 * bounds; a problem is recorded (not thrown) so every one is reported at once. A
 * `fallback` argument stands for a default the table describes but cannot hold
 * (one computed from other settings).
 */
class Reader {
  constructor(
    private readonly env: Env,
    private readonly problems: string[],
    private readonly rootDir: string,
  ) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  /** The table's default, or the computed one; a setting read without either is a programming error. */
  private fallback<T>(name: SettingName, computed: T | undefined): T {
    const setting: Setting = SETTINGS[name];
    const value = computed ?? ('default' in setting ? (setting.default as T) : undefined);
    if (value === undefined) throw new Error(`${name} has no default in settings.ts`);
    return value;
  }

  string(name: SettingNameOf<'string'>, fallback?: string): string {
    return this.raw(name) ?? this.fallback(name, fallback);
  }

  /** The raw text of a setting without a default (checked by the caller). */
  optionalString(name: SettingNameOf<'string' | 'enum' | 'path'>): string | undefined {
    return this.raw(name);
  }

  /**
   * A secret, given inline (`NAME`) or in a file (`NAME_FILE`, as container platforms
   * mount secrets; relative to the checkout), never both. The file's last line break is
   * not part of the secret.
   */
  optionalSecret(name: SettingNameOf<'secret'>): string | undefined {
    const { inline, file } = this.secretForms(name);
    if (file === undefined) return inline;
    const path = resolve(this.rootDir, file);
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

  /**
   * The forms of a secret as given (`file` as written, unread); when both are, a
   * problem is recorded and neither is returned.
   */
  secretForms(name: SettingNameOf<'secret'>): { inline?: string; file?: string; both: boolean } {
    const inline = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (inline !== undefined && file !== undefined) {
      this.problems.push(`set ${name} or ${name}_FILE, not both`);
      return { both: true };
    }
    return { inline, file, both: false };
  }

  int(name: SettingNameOf<'int'>): number {
    const setting: Setting = SETTINGS[name];
    const { min, max } = setting.type === 'int' ? setting : { min: 0, max: 0 };
    const fallback = this.fallback<number>(name, undefined);
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
  seconds(name: SettingNameOf<'seconds'>): number {
    const fallback = this.fallback<number>(name, undefined) * 1000;
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) {
      this.problems.push(
        `${name} must be a number of seconds above 0 and at most a week (got "${v}")`,
      );
      return fallback;
    }
    return Math.round(n * 1000);
  }

  bool(name: SettingNameOf<'bool'>, fallback?: boolean): boolean {
    const dflt = this.fallback(name, fallback);
    const v = this.raw(name)?.toLowerCase();
    if (v === undefined) return dflt;
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
    this.problems.push(`${name} must be true or false (got "${v}")`);
    return dflt;
  }

  oneOf<N extends SettingNameOf<'enum'>>(name: N, fallback?: EnumValue<N>): EnumValue<N> {
    const setting: Setting = SETTINGS[name];
    const allowed = setting.type === 'enum' ? setting.values : [];
    const dflt = this.fallback(name, fallback);
    const v = this.raw(name);
    if (v === undefined) return dflt;
    if (allowed.includes(v)) return v as EnumValue<N>;
    this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${v}")`);
    return dflt;
  }

  /** A path, relative to the checkout unless absolute. */
  path(name: SettingNameOf<'path'>, fallback?: string): string {
    return resolve(this.rootDir, this.raw(name) ?? this.fallback(name, fallback));
  }

  /** `:`-separated paths, each relative to the checkout unless absolute. */
  pathList(name: SettingNameOf<'paths'>): string[] {
    const v = this.raw(name);
    const parts =
      v === undefined ? this.fallback<readonly string[]>(name, undefined) : v.split(':');
    return parts.filter((p) => p.length > 0).map((p) => resolve(this.rootDir, p));
  }
}

/** The Git source of the catalog, when RUNGATE_RUNBOOKS_GIT_URL is set. */
function runbooksGit(r: Reader, problems: string[]): RunbooksGitConfig | undefined {
  const url = r.optionalSecret('RUNGATE_RUNBOOKS_GIT_URL');
  if (url === undefined) return undefined;
  const ref = r.string('RUNGATE_RUNBOOKS_GIT_REF');
  // A ref starting with '-' would read as an option of git.
  if (ref.startsWith('-') || /\s/.test(ref)) {
    problems.push(`RUNGATE_RUNBOOKS_GIT_REF: ${ref} is not a ref name`);
  }
  const subdir = (r.optionalString('RUNGATE_RUNBOOKS_GIT_SUBDIR') ?? '').replace(/^\/+|\/+$/g, '');
  if (subdir.split('/').some((part) => part === '..')) {
    problems.push('RUNGATE_RUNBOOKS_GIT_SUBDIR: must stay inside the repository');
  }
  const allowedSigners = r.optionalString('RUNGATE_RUNBOOKS_GIT_ALLOWED_SIGNERS');
  return {
    url,
    ref,
    subdir,
    pollIntervalMs: r.seconds('RUNGATE_RUNBOOKS_GIT_POLL_SECONDS'),
    ...(allowedSigners !== undefined
      ? { allowedSigners: r.path('RUNGATE_RUNBOOKS_GIT_ALLOWED_SIGNERS') }
      : {}),
  };
}
