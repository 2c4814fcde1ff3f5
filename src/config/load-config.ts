import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AppConfig } from './config.types';

/** Thrown with every problem found, so an operator fixes them all in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Builds the configuration from the environment and, when RUNGATE_CONFIG names one,
 * a YAML or JSON file whose keys are the same variable names (the environment wins).
 */
export function loadConfig(env: Env = process.env, rootDir = defaultRootDir()): AppConfig {
  const problems: string[] = [];
  const merged: Env = { ...readConfigFile(env.RUNGATE_CONFIG, rootDir, problems), ...env };
  const r = new Reader(merged, problems);

  const nodeEnv = r.oneOf('NODE_ENV', ['development', 'production', 'test'] as const, 'development');
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
      url: r.optionalString('DATABASE_URL'),
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
    },
    sessions: {
      idleTimeoutMs: r.seconds('RUNGATE_SESSION_IDLE_TIMEOUT', 30 * 60),
      maxLifetimeMs: r.seconds('RUNGATE_SESSION_MAX_LIFETIME', 8 * 60 * 60),
      outputCapBytes: r.int('RUNGATE_OUTPUT_CAP_BYTES', 1024 * 1024, 1024, 256 * 1024 * 1024),
      cellTimeoutMs: r.seconds('RUNGATE_CELL_TIMEOUT', 15 * 60),
      maxQueuedExecutions: r.int('RUNGATE_MAX_QUEUED_EXECUTIONS', 16, 0, 1000),
    },
    demoTarget: {
      enabled: r.bool('RUNGATE_DEMO_TARGET', nodeEnv !== 'production'),
      host: r.string('RUNGATE_DEMO_TARGET_HOST', '127.0.0.1'),
      port: r.int('RUNGATE_DEMO_TARGET_PORT', 8090, 0, 65535),
    },
    auth: {
      issuer: r.optionalString('OIDC_ISSUER'),
      audience: r.string('OIDC_AUDIENCE', 'urn:rungate'),
      groupsClaim: r.string('OIDC_GROUPS_CLAIM', 'groups'),
      introspectionClientId: r.optionalString('OIDC_CLIENT_ID'),
      introspectionClientSecret: r.optionalString('OIDC_CLIENT_SECRET'),
      devIssuerPort: r.int('RUNGATE_DEV_OIDC_PORT', 8081, 0, 65535),
      devIssuerHost: r.string('RUNGATE_DEV_OIDC_HOST', '127.0.0.1'),
    },
    policy: {
      dir: r.path('RUNGATE_POLICY_DIR', rootDir, 'policies'),
      watch: r.bool('RUNGATE_POLICY_WATCH', true),
    },
  };
  if (config.kernels.heartbeatIntervalMs > 2000) {
    problems.push('RUNGATE_KERNEL_HEARTBEAT_INTERVAL must be at most 2 s so a dead kernel is seen within 5 s');
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

export function defaultRootDir(): string {
  // dist/config/ or src/config/ → repository root
  return resolve(__dirname, '..', '..');
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
      this.problems.push(`${name} must be a number of seconds above 0 and at most a week (got "${v}")`);
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
