/** The gateway's whole configuration, validated once at start-up and then read-only. */
export interface AppConfig {
  readonly nodeEnv: 'development' | 'production' | 'test';
  /** Repository root (where runbooks/, policies/ and .cache/ live by default). */
  readonly rootDir: string;
  /** Where the embedded database and other local state live. */
  readonly dataDir: string;
  /** pino level: fatal, error, warn, info, debug, trace, silent. */
  readonly logLevel: string;
  readonly http: HttpConfig;
  readonly database: DatabaseConfig;
  readonly runbooks: RunbooksConfig;
  readonly kernels: KernelsConfig;
  readonly sessions: SessionsConfig;
  readonly demoTarget: DemoTargetConfig;
  readonly auth: AuthConfig;
  readonly policy: PolicyConfig;
}

export interface HttpConfig {
  readonly host: string;
  readonly port: number;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimitBytes: number;
}

export interface DatabaseConfig {
  /** A PostgreSQL URL; undefined means the embedded PGlite server under dataDir. */
  readonly url: string | undefined;
  /** Connections to a PostgreSQL server; the embedded database always uses one (see src/db). */
  readonly poolSize: number;
  /** How long to wait for a connection (opening one, or a free one from the pool) before answering 503. */
  readonly connectTimeoutMs: number;
}

export interface RunbooksConfig {
  readonly dir: string;
  /** Largest notebook file accepted, in bytes. */
  readonly maxFileBytes: number;
}

export interface KernelsConfig {
  /** Extra kernelspec directories, searched before Jupyter's standard data paths. */
  readonly specDirs: readonly string[];
  /** Kernelspec used by runbooks that do not name one. */
  readonly defaultKernel: string;
  /** Pre-started kernels kept ready per kernelspec. */
  readonly poolSize: number;
  /** How long a kernel may take to answer kernel_info after launch. */
  readonly startTimeoutMs: number;
  /** Heartbeat period; a kernel silent for 2 periods plus a margin is dead (bound: 5 s). */
  readonly heartbeatIntervalMs: number;
  /** Grace period between shutdown_request and SIGKILL. */
  readonly shutdownGraceMs: number;
  /** Extra directories put on the kernel's PYTHONPATH (the `rungate` helper package). */
  readonly pythonPath: readonly string[];
  /** Bytes of kernel stdout/stderr kept per kernel. */
  readonly logCapBytes: number;
}

export interface SessionsConfig {
  /** A session with no execution for this long is ended. */
  readonly idleTimeoutMs: number;
  /** A session is ended this long after it started, whatever it is doing. */
  readonly maxLifetimeMs: number;
  /** Recorded output bytes per execution; past it the output is truncated and marked. */
  readonly outputCapBytes: number;
  /** A cell running longer than this is interrupted. */
  readonly cellTimeoutMs: number;
  /** Executions waiting behind the running one, per session. */
  readonly maxQueuedExecutions: number;
}

export interface DemoTargetConfig {
  /** Serve the embedded demo production target (the "demo-shop" service the sample runbooks query). */
  readonly enabled: boolean;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface AuthConfig {
  /** OIDC issuer URL; undefined means the development issuer (refused in production). */
  readonly issuer: string | undefined;
  readonly audience: string;
  /** Claim holding the groups; dotted paths allowed (`realm_access.roles`). */
  readonly groupsClaim: string;
  /** Client credentials for token introspection of opaque tokens (optional). */
  readonly introspectionClientId: string | undefined;
  readonly introspectionClientSecret: string | undefined;
  /** Port of the development issuer (served at /dev-oidc); 0 picks a free port. */
  readonly devIssuerPort: number;
  readonly devIssuerHost: string;
}

export interface PolicyConfig {
  /** Folder with model.conf, policy.csv and approvals.csv. */
  readonly dir: string;
  /** Reload the policy when its files change. */
  readonly watch: boolean;
}
