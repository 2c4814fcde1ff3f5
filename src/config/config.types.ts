import type { StaticTargetDefinition } from '../targets/targets.types';

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
  readonly replicas: ReplicasConfig;
  readonly demoTarget: DemoTargetConfig;
  readonly targets: TargetsConfig;
  readonly auth: AuthConfig;
  readonly policy: PolicyConfig;
  readonly audit: AuditConfig;
  readonly approvals: ApprovalsConfig;
  readonly web: WebConfig;
}

export interface HttpConfig {
  readonly host: string;
  readonly port: number;
  /** Largest accepted request body, in bytes. */
  readonly bodyLimitBytes: number;
  /** Origins (scheme://host[:port]) browsers may call the API from; empty: no CORS at all. */
  readonly corsOrigins: readonly string[];
  /** Authenticated requests per person and per address in each window (0: no limit). */
  readonly rateLimit: {
    readonly perPrincipal: number;
    readonly perAddress: number;
    readonly windowSec: number;
  };
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
  /** Follow a Git repository instead of `dir`; absent: the folder. */
  readonly git?: RunbooksGitConfig;
}

/** The catalog as a Git ref (RUNGATE_RUNBOOKS_GIT_*). */
export interface RunbooksGitConfig {
  /** What `git fetch` is given: a local path or a URL. */
  readonly url: string;
  readonly ref: string;
  /** Folder inside the repository ('' for its root). */
  readonly subdir: string;
  readonly pollIntervalMs: number;
  /** SSH allowed-signers file: only commits that verify against it are loaded. */
  readonly allowedSigners?: string;
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
  /**
   * `ipc`: ZeroMQ over Unix sockets in the kernel's private 0700 directory, so no other
   * local user can subscribe to its outputs; `tcp`: loopback ports, for kernels that
   * do not support ipc.
   */
  readonly transport: 'ipc' | 'tcp';
  /**
   * `sandbox`: each kernel in a bubblewrap sandbox (see docs/security.md); `process`:
   * a plain child process of the gateway, for machines without user namespaces.
   */
  readonly provisioner: 'sandbox' | 'process';
  /** With NODE_ENV=production the gateway refuses `process` unless this says the operator accepts it. */
  readonly acceptUnsandboxed: boolean;
  readonly sandbox: SandboxConfig;
  readonly limits: KernelLimits;
}

/** What one kernel may use; 0 means no limit. */
export interface KernelLimits {
  readonly memoryBytes: number;
  /** Processes and threads of the kernel and everything it starts. */
  readonly pids: number;
  readonly openFiles: number;
  /** CPU seconds one execution may use (the kernel and its children). */
  readonly cpuSecondsPerExecution: number;
  /** Size of each private tmpfs (/tmp, home, /dev/shm); also the largest file a kernel may write. */
  readonly tmpBytes: number;
}

export interface SandboxConfig {
  /** `private`: the kernel's own network namespace, targets through forwarders; `host`: the host's network. */
  readonly network: 'private' | 'host';
  /** Host user kernels run as when the gateway runs as root. */
  readonly user: string;
  /** Further host paths kernels see read-only (their Python environment and PYTHONPATH are added). */
  readonly readOnlyPaths: readonly string[];
}

/** Several gateway processes on one database: see the README's section on replicas. */
export interface ReplicasConfig {
  /** Where the others reach this one; undefined: worked out from the listen address once listening. */
  readonly advertiseUrl: string | undefined;
  /** Key of the MAC on forwarded requests; undefined: the key kept in the database. */
  readonly secret: string | undefined;
  /** How often this instance records its heartbeat and looks for instances that are gone. */
  readonly heartbeatIntervalMs: number;
  /** An instance whose heartbeat is older than this is presumed dead. */
  readonly staleAfterMs: number;
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
  /** Open sessions (each holds a kernel process) on this gateway, and per person. */
  readonly maxOpen: number;
  readonly maxOpenPerUser: number;
  /**
   * On SIGTERM, how long running cells may go on to their end (new commands get 503
   * meanwhile); past it they are interrupted, then sessions end and the audit relay
   * publishes what is left before the process exits.
   */
  readonly shutdownGraceMs: number;
}

export interface DemoTargetConfig {
  /**
   * Serve the embedded demo production target (the "demo-shop" service the sample
   * runbooks query). main.ts starts it before the app and adds it to `targets.embedded`.
   */
  readonly enabled: boolean;
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** Production targets (see src/targets and targets.example.yaml). */
export interface TargetsConfig {
  /** YAML file declaring the targets; undefined when none is configured (only the embedded ones). */
  readonly file: string | undefined;
  /**
   * Targets the gateway configures itself, not read from the environment: the demo
   * target once started (see `withEmbeddedTarget`). Their names are refused in the file.
   */
  readonly embedded: readonly StaticTargetDefinition[];
  /** Prefix of the login roles minted on postgres targets; roles with it are the gateway's to drop. */
  readonly rolePrefix: string;
  /** How long to wait for a target's administrative connection before answering 503. */
  readonly connectTimeoutMs: number;
  /**
   * Bound of each statement on a target's administrative connection (creating and
   * dropping roles): the server's `statement_timeout` and `lock_timeout`, and a client-side
   * read timeout a little longer, for a server that stops answering altogether.
   */
  readonly statementTimeoutMs: number;
}

export interface AuthConfig {
  /** OIDC issuer URL; undefined means the development issuer (refused in production). */
  readonly issuer: string | undefined;
  readonly audience: string;
  /** Claim holding the groups; dotted paths allowed (`realm_access.roles`). */
  readonly groupsClaim: string;
  /**
   * Bound of each request to the issuer (discovery, JWKS, introspection, and the web
   * sign-in's token requests); past it the caller gets a retriable 503, not a hang.
   */
  readonly httpTimeoutMs: number;
  /** Client credentials for token introspection of opaque tokens (optional). */
  readonly introspectionClientId: string | undefined;
  readonly introspectionClientSecret: string | undefined;
  /** Public client the `rungate` CLI signs in with (device authorization grant). */
  readonly cliClientId: string;
  /**
   * How recent an authentication must be (the token's `auth_time`, in seconds) to
   * approve, deny, acknowledge or break glass: a stolen long-lived session cannot decide.
   */
  readonly stepUpMaxAgeSec: number;
  /**
   * Refused authentications one address may have per window before its requests get
   * `429` until the window ends (0: no limit).
   */
  readonly failureLimit: number;
  readonly failureWindowSec: number;
  /** Port of the development issuer (served at /dev-oidc); 0 picks a free port. */
  readonly devIssuerPort: number;
  readonly devIssuerHost: string;
}

/**
 * The web app and its backend-for-frontend (see src/web and docs/web.md): the gateway
 * signs people in with the authorization-code flow and keeps their tokens; browsers
 * hold only an HttpOnly session cookie.
 */
export interface WebConfig {
  /**
   * Origin people reach the gateway at (`https://rungate.example.com`): the OIDC redirect
   * URI (`<publicUrl>/auth/callback`), the CSRF origin check and the cookie's `Secure`
   * attribute derive from it. Undefined: the loopback listen address, `http://127.0.0.1:<port>`
   * (main.ts refuses a non-loopback `RUNGATE_HOST` without it).
   */
  readonly publicUrl: string | undefined;
  /** Client the web sign-in uses at the issuer (a public client unless a secret is set). */
  readonly clientId: string;
  readonly clientSecret: string | undefined;
  /** Scopes asked for at sign-in, space-separated. */
  readonly scopes: string;
  /** A web session ends this long after sign-in, whatever it is doing. */
  readonly sessionMaxLifetimeMs: number;
  /** A web session unused for this long ends. */
  readonly sessionIdleTimeoutMs: number;
  /** The built web app (`index.html`, `assets/`). */
  readonly appDir: string;
}

export interface PolicyConfig {
  /** Folder with model.conf, policy.csv and approvals.csv. */
  readonly dir: string;
  /** Reload the policy when its files change. */
  readonly watch: boolean;
}

/** The audit trail: outbox relay to Kafka (or a JSON-lines file), retention, readiness (see src/audit). */
export interface AuditConfig {
  /** Kafka connection; undefined (no KAFKA_BROKERS) means the file sink. */
  readonly kafka: AuditKafkaConfig | undefined;
  /** Topic the events go to. */
  readonly topic: string;
  /** Create the topic at start-up when it is missing. */
  readonly createTopic: boolean;
  /** Partitions and replication factor of a topic the gateway creates. */
  readonly topicPartitions: number;
  readonly topicReplicationFactor: number;
  /** JSON-lines file the events go to when no brokers are configured. */
  readonly file: string;
  /** How long published rows stay in the outbox table (and the audit API); 0 keeps them forever. */
  readonly retentionMs: number;
  /** Unpublished events past which /readyz reports the audit trail degraded. */
  readonly backlogReadyThreshold: number;
  /** Age of the oldest unpublished event past which /readyz reports the audit trail degraded. */
  readonly backlogReadyMaxAgeMs: number;
  /** Put the (redacted, capped) outputs themselves into `cell.execution.completed`, not only their digest. */
  readonly recordOutputs: boolean;
  /** How often the relay looks for work when nothing woke it. */
  readonly relayPollIntervalMs: number;
  /** Events per relay batch. */
  readonly relayBatchSize: number;
  /** CloudEvents `ce_source`; default `urn:rungate:<hostname>`. */
  readonly source: string;
  /**
   * Key material for the MAC of `GET /v1/audit/events` cursors. Replicas behind one
   * address need the same value; unset, each process draws a random key and refuses
   * the cursors of the others (a client then starts from the first page).
   */
  readonly cursorSecret: string | undefined;
}

/** How the relay reaches Kafka. */
export interface AuditKafkaConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Bound of establishing a broker connection (TCP, TLS and SASL). */
  readonly connectionTimeoutMs: number;
  /** Bound of each request to a broker; the relay bounds a whole publish separately. */
  readonly requestTimeoutMs: number;
  readonly ssl: boolean;
  readonly sasl:
    | {
        readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
        readonly username: string;
        readonly password: string;
      }
    | undefined;
}

/** Approvals of mutating cells: expiry, sweeping and the notification webhook (see src/approvals). */
export interface ApprovalsConfig {
  /** How long a request waits for its quorum before it expires. */
  readonly pendingTtlMs: number;
  /** How long a granted approval stays usable. */
  readonly useWindowMs: number;
  /** How often expired requests and unused approvals are marked expired. */
  readonly sweepIntervalMs: number;
  /**
   * How long after a request is settled (denied, expired, cancelled, used, acknowledged;
   * an unused grant counts as settled when its use window ends) the people who may
   * review it still read its session (`session:read-as-reviewer`). 0: only while it is open.
   */
  readonly readWindowMs: number;
  /** Notifications on request, grant, denial, expiry and break-glass; undefined: none. */
  readonly webhook: ApprovalWebhookConfig | undefined;
}

/** Where approval notifications go and how they are signed and retried. */
export interface ApprovalWebhookConfig {
  readonly url: string;
  /** The HMAC-SHA256 key: given inline, or a file read at every delivery (so rotation needs no restart). */
  readonly secret: { readonly value: string } | { readonly file: string };
  /** Attempts per notification, the first included. */
  readonly maxAttempts: number;
  /** Delay before the first retry; doubles per attempt, with jitter, up to maxBackoffMs. */
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Per-attempt timeout. */
  readonly timeoutMs: number;
  /**
   * `rungate`: the JSON described in docs/approvals.md (with a ready chat `message`);
   * `slack`: only that message, `{ text, blocks }`, for a Slack incoming webhook.
   */
  readonly format: 'rungate' | 'slack';
}
