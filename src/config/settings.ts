/**
 * Every setting the gateway reads, in one declarative table: name, type, default,
 * bounds, whether it is a secret, and what it does. `load-config.ts` reads settings
 * only by these names (its reader's methods take a `SettingName`), with the defaults
 * and bounds written here; `docs/configuration.md` is generated from this table
 * (`npm run config:doc`), and a unit test fails when the committed file is stale.
 *
 * To add a setting: add an entry here (in its section), read it in `load-config.ts`
 * with the reader method of its type, then run `npm run config:doc`.
 */

/** Headings of `docs/configuration.md`, in order. */
export const SECTIONS = [
  'General',
  'HTTP',
  'Database',
  'Identity (OIDC)',
  'Web app',
  'Policy',
  'Runbooks',
  'Kernels',
  'Kernel sandbox and limits',
  'Sessions',
  'Replicas',
  'Targets',
  'Demo target',
  'Audit trail and Kafka',
  'Approvals',
] as const;

export type Section = (typeof SECTIONS)[number];

interface Common {
  readonly section: Section;
  /** What it does, for people: Markdown, one paragraph. */
  readonly description: string;
  /**
   * How the default is worked out when it is not a constant (then `default` is
   * absent and the loader passes the computed value).
   */
  readonly defaultText?: string;
}

/** One setting; the `type` decides how the value is read and checked. */
export type Setting =
  | (Common & { readonly type: 'string'; readonly default?: string })
  | (Common & {
      readonly type: 'int';
      readonly default?: number;
      readonly min: number;
      readonly max: number;
      /** Shown after the number: `s`, `MiB`, `bytes`... */
      readonly unit?: string;
    })
  /** A duration given in seconds (fractions allowed), above 0 and at most a week; read as milliseconds. */
  | (Common & { readonly type: 'seconds'; readonly default?: number })
  | (Common & { readonly type: 'bool'; readonly default?: boolean })
  | (Common & {
      readonly type: 'enum';
      readonly values: readonly string[];
      readonly default?: string;
    })
  /** A path, relative to the checkout unless absolute. */
  | (Common & { readonly type: 'path'; readonly default?: string })
  /** `:`-separated paths, each relative to the checkout unless absolute. */
  | (Common & { readonly type: 'paths'; readonly default: readonly string[] })
  /**
   * A secret: given inline (`NAME`) or, as container platforms mount secrets, in a
   * file named by `NAME_FILE` (never both). Never logged or shown.
   */
  | (Common & { readonly type: 'secret' });

export const SETTINGS = {
  // ---- General ---------------------------------------------------------------
  NODE_ENV: {
    section: 'General',
    type: 'enum',
    values: ['development', 'production', 'test'],
    default: 'development',
    description:
      '`production` refuses the development issuer, the demo target by default, unsandboxed kernels without `RUNGATE_ACCEPT_UNSANDBOXED_KERNELS`, and a missing `OIDC_ISSUER`.',
  },
  RUNGATE_CONFIG: {
    section: 'General',
    type: 'path',
    description:
      'A YAML or JSON file holding a mapping of these same variable names to scalar values; the environment wins over the file.',
  },
  RUNGATE_DATA_DIR: {
    section: 'General',
    type: 'path',
    default: '.data',
    description:
      'Local state: the embedded database, kernel records, the development issuer’s keys, the file audit sink.',
  },
  RUNGATE_LOG_LEVEL: {
    section: 'General',
    type: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    defaultText: '`warn` when `NODE_ENV=test`, else `info`',
    description: 'Structured JSON logs (pino).',
  },
  RUNGATE_SHUTDOWN_GRACE_SECONDS: {
    section: 'General',
    type: 'seconds',
    default: 30,
    description:
      'On SIGTERM, how long running cells may go on to their end while new commands get 503; past it they are interrupted, then sessions end, credentials are revoked and the audit relay publishes what is left before the process exits.',
  },

  // ---- HTTP ------------------------------------------------------------------
  RUNGATE_HOST: {
    section: 'HTTP',
    type: 'string',
    default: '127.0.0.1',
    description:
      'Where the API and web app listen. A non-loopback host needs `OIDC_ISSUER` and `RUNGATE_PUBLIC_URL`.',
  },
  RUNGATE_PORT: {
    section: 'HTTP',
    type: 'int',
    default: 8080,
    min: 0,
    max: 65535,
    description: 'Port of the API and web app.',
  },
  RUNGATE_BODY_LIMIT_BYTES: {
    section: 'HTTP',
    type: 'int',
    default: 256 * 1024,
    min: 1024,
    max: 16 * 1024 * 1024,
    unit: 'bytes',
    description: 'Largest request body accepted; a larger one is refused with 413.',
  },
  RUNGATE_CORS_ORIGINS: {
    section: 'HTTP',
    type: 'string',
    defaultText: 'unset: no CORS headers, so browsers on other origins cannot read answers',
    description:
      'Comma-separated origins (`https://ops.example.com`) whose pages may call the API from a browser. The web app served by the gateway needs none.',
  },
  RUNGATE_RATE_LIMIT_PER_PRINCIPAL: {
    section: 'HTTP',
    type: 'int',
    default: 600,
    min: 0,
    max: 1_000_000,
    description:
      'Authenticated API requests one person (token subject) may make per window; past it `429 too_many_requests` with `Retry-After` (counted per replica; 0 turns it off).',
  },
  RUNGATE_RATE_LIMIT_PER_ADDRESS: {
    section: 'HTTP',
    type: 'int',
    default: 1200,
    min: 0,
    max: 1_000_000,
    description:
      'Authenticated API requests from one client address per window, whoever makes them (counted per replica; 0 turns it off). Refused sign-ins have their own, stricter limit: `RUNGATE_AUTH_FAILURE_LIMIT`.',
  },
  RUNGATE_RATE_LIMIT_WINDOW_SECONDS: {
    section: 'HTTP',
    type: 'int',
    default: 60,
    min: 1,
    max: 24 * 3600,
    unit: 's',
    description: 'The window of `RUNGATE_RATE_LIMIT_PER_PRINCIPAL` and `_PER_ADDRESS`.',
  },

  // ---- Database --------------------------------------------------------------
  DATABASE_URL: {
    section: 'Database',
    type: 'secret',
    defaultText: 'unset: an embedded PGlite under `RUNGATE_DATA_DIR`',
    description:
      'PostgreSQL for sessions, executions, approvals and the audit outbox (a URL; it usually carries a password, so it is a secret).',
  },
  RUNGATE_DB_POOL_SIZE: {
    section: 'Database',
    type: 'int',
    default: 10,
    min: 1,
    max: 200,
    description: 'Connections to a PostgreSQL server (the embedded database always uses one).',
  },
  RUNGATE_DB_CONNECT_TIMEOUT: {
    section: 'Database',
    type: 'seconds',
    default: 5,
    description:
      'How long to wait for a connection (a new one, or a free one from the pool) before answering 503.',
  },

  // ---- Identity --------------------------------------------------------------
  OIDC_ISSUER: {
    section: 'Identity (OIDC)',
    type: 'string',
    defaultText:
      'unset: the development issuer with demo people (refused when `NODE_ENV=production`)',
    description: 'The identity provider’s issuer URL; keys and endpoints are found by discovery.',
  },
  OIDC_AUDIENCE: {
    section: 'Identity (OIDC)',
    type: 'string',
    default: 'urn:rungate',
    description: 'The `aud` a bearer token must carry.',
  },
  OIDC_GROUPS_CLAIM: {
    section: 'Identity (OIDC)',
    type: 'string',
    default: 'groups',
    description:
      'Claim holding the caller’s groups; a dotted path is allowed (`realm_access.roles`).',
  },
  OIDC_HTTP_TIMEOUT: {
    section: 'Identity (OIDC)',
    type: 'seconds',
    default: 10,
    description:
      'Bound of each request to the issuer (discovery, JWKS, introspection, the web sign-in’s token requests); past it the caller gets a retriable 503.',
  },
  OIDC_CLIENT_ID: {
    section: 'Identity (OIDC)',
    type: 'string',
    description:
      'Client that introspects opaque (non-JWT) access tokens, with `OIDC_CLIENT_SECRET`.',
  },
  OIDC_CLIENT_SECRET: {
    section: 'Identity (OIDC)',
    type: 'secret',
    description: 'Secret of `OIDC_CLIENT_ID`.',
  },
  OIDC_CLI_CLIENT_ID: {
    section: 'Identity (OIDC)',
    type: 'string',
    default: 'rungate-cli',
    description:
      'The CLI’s public client (device authorization grant), announced at `GET /v1/auth/config`.',
  },
  RUNGATE_STEP_UP_MAX_AGE_SECONDS: {
    section: 'Identity (OIDC)',
    type: 'int',
    default: 900,
    min: 0,
    max: 7 * 24 * 3600,
    unit: 's',
    description:
      'Approving, denying, acknowledging and breaking glass need a sign-in (`auth_time`) this recent; else `401 step_up_required`.',
  },
  RUNGATE_AUTH_FAILURE_LIMIT: {
    section: 'Identity (OIDC)',
    type: 'int',
    default: 50,
    min: 0,
    max: 1_000_000,
    description:
      'Refused authentications one client address may have per window; past it its requests get `429` with `Retry-After` until the window ends (counted per replica; 0 turns it off).',
  },
  RUNGATE_AUTH_FAILURE_WINDOW_SECONDS: {
    section: 'Identity (OIDC)',
    type: 'int',
    default: 60,
    min: 1,
    max: 24 * 3600,
    unit: 's',
    description: 'The window of `RUNGATE_AUTH_FAILURE_LIMIT`.',
  },
  RUNGATE_DEV_OIDC_HOST: {
    section: 'Identity (OIDC)',
    type: 'string',
    default: '127.0.0.1',
    description: 'Where the development issuer listens (only without `OIDC_ISSUER`).',
  },
  RUNGATE_DEV_OIDC_PORT: {
    section: 'Identity (OIDC)',
    type: 'int',
    default: 8081,
    min: 0,
    max: 65535,
    description: 'Port of the development issuer.',
  },

  // ---- Web app ---------------------------------------------------------------
  RUNGATE_PUBLIC_URL: {
    section: 'Web app',
    type: 'string',
    defaultText: '`http://127.0.0.1:<port>` on loopback; required otherwise',
    description:
      'The origin people open the web app at (no path). The sign-in redirect URI is `<it>/auth/callback`, cookies are `Secure` when it is https, and state-changing calls must come from it.',
  },
  OIDC_WEB_CLIENT_ID: {
    section: 'Web app',
    type: 'string',
    default: 'rungate-web',
    description:
      'The web app’s client at the issuer: a public client with PKCE unless `OIDC_WEB_CLIENT_SECRET` is set.',
  },
  OIDC_WEB_CLIENT_SECRET: {
    section: 'Web app',
    type: 'secret',
    description: 'Makes the web app a confidential client.',
  },
  OIDC_WEB_SCOPES: {
    section: 'Web app',
    type: 'string',
    default: 'openid profile email offline_access',
    description: 'Scopes asked for at web sign-in (must include `openid`).',
  },
  RUNGATE_WEB_SESSION_MAX_LIFETIME: {
    section: 'Web app',
    type: 'seconds',
    default: 12 * 3600,
    description: 'A web session ends this long after sign-in.',
  },
  RUNGATE_WEB_SESSION_IDLE_TIMEOUT: {
    section: 'Web app',
    type: 'seconds',
    default: 3600,
    description:
      'A web session ends after this long unused (at most `RUNGATE_WEB_SESSION_MAX_LIFETIME`).',
  },
  RUNGATE_WEB_APP_DIR: {
    section: 'Web app',
    type: 'path',
    default: 'dist/webapp',
    description: 'The built web app served at `/`.',
  },

  // ---- Policy ----------------------------------------------------------------
  RUNGATE_POLICY_DIR: {
    section: 'Policy',
    type: 'path',
    default: 'policies',
    description:
      'The Casbin model, rules and approval quorums (`policies/README.md`). The gateway does not start without a policy that loads.',
  },
  RUNGATE_POLICY_WATCH: {
    section: 'Policy',
    type: 'bool',
    default: true,
    description:
      'Reload the policy when its files change; a broken edit keeps the last good policy in force and `/readyz` reports it.',
  },

  // ---- Runbooks --------------------------------------------------------------
  RUNGATE_RUNBOOKS_DIR: {
    section: 'Runbooks',
    type: 'path',
    default: 'runbooks',
    description: 'The catalog, reloaded on change.',
  },
  RUNGATE_RUNBOOK_MAX_BYTES: {
    section: 'Runbooks',
    type: 'int',
    default: 2 * 1024 * 1024,
    min: 1024,
    max: 64 * 1024 * 1024,
    unit: 'bytes',
    description: 'Largest notebook file the catalog reads; a larger one is listed as invalid.',
  },
  RUNGATE_RUNBOOKS_GIT_URL: {
    section: 'Runbooks',
    type: 'secret',
    description:
      'A Git repository the catalog follows instead of `RUNGATE_RUNBOOKS_DIR`: a local path or any URL the `git` CLI understands (it may hold a token, hence a secret). Fetched into the data dir; each runbook version records the commit that last changed it.',
  },
  RUNGATE_RUNBOOKS_GIT_REF: {
    section: 'Runbooks',
    type: 'string',
    default: 'main',
    description: 'Branch, tag or commit of `RUNGATE_RUNBOOKS_GIT_URL` the catalog follows.',
  },
  RUNGATE_RUNBOOKS_GIT_SUBDIR: {
    section: 'Runbooks',
    type: 'string',
    description: 'Folder inside the repository that holds the runbooks; default: its root.',
  },
  RUNGATE_RUNBOOKS_GIT_POLL_SECONDS: {
    section: 'Runbooks',
    type: 'seconds',
    default: 60,
    description:
      'How often the Git ref is fetched; `POST /v1/catalog/refresh` (a push webhook) fetches at once.',
  },
  RUNGATE_RUNBOOKS_GIT_ALLOWED_SIGNERS: {
    section: 'Runbooks',
    type: 'path',
    description:
      'An SSH allowed-signers file (`ssh-keygen -Y`, `gpg.ssh.allowedSignersFile`): when set, only a commit whose signature `git verify-commit` accepts against it is loaded; any other commit leaves the catalog as it was.',
  },

  // ---- Kernels ---------------------------------------------------------------
  RUNGATE_KERNEL_NAME: {
    section: 'Kernels',
    type: 'string',
    default: 'python3',
    description: 'Kernelspec for runbooks that name none.',
  },
  RUNGATE_KERNELSPEC_DIRS: {
    section: 'Kernels',
    type: 'paths',
    default: ['.cache/kernelspecs'],
    description: 'Searched before Jupyter’s standard kernelspec paths.',
  },
  RUNGATE_KERNEL_POOL_SIZE: {
    section: 'Kernels',
    type: 'int',
    default: 2,
    min: 0,
    max: 64,
    description: 'Pre-started kernels per kernelspec.',
  },
  RUNGATE_KERNEL_START_TIMEOUT: {
    section: 'Kernels',
    type: 'seconds',
    default: 60,
    description: 'How long a kernel may take to answer its first `kernel_info_request`.',
  },
  RUNGATE_KERNEL_HEARTBEAT_INTERVAL: {
    section: 'Kernels',
    type: 'seconds',
    default: 1,
    description: 'Heartbeat period; at most 2 s, so that a dead kernel is seen within 5 s.',
  },
  RUNGATE_KERNEL_SHUTDOWN_GRACE: {
    section: 'Kernels',
    type: 'seconds',
    default: 3,
    description: 'How long a kernel asked to shut down may take before it is killed.',
  },
  RUNGATE_KERNEL_PYTHONPATH: {
    section: 'Kernels',
    type: 'paths',
    default: ['kernels/python'],
    description:
      'Put on each kernel’s `PYTHONPATH` (the `rungate` helper package), and shown read-only in the sandbox.',
  },
  RUNGATE_KERNEL_LOG_BYTES: {
    section: 'Kernels',
    type: 'int',
    default: 64 * 1024,
    min: 1024,
    max: 16 * 1024 * 1024,
    unit: 'bytes',
    description: 'Kernel stdout/stderr kept per kernel, for diagnosing a kernel that died.',
  },
  RUNGATE_KERNEL_TRANSPORT: {
    section: 'Kernels',
    type: 'enum',
    values: ['ipc', 'tcp'],
    default: 'ipc',
    description:
      '`process` kernels only (sandboxed ones always use ipc): ZeroMQ over Unix sockets in each kernel’s private directory; `tcp` (loopback) for kernels without ipc support, where another local user could read a kernel’s iopub.',
  },
  RUNGATE_KERNEL_PROVISIONER: {
    section: 'Kernels',
    type: 'enum',
    values: ['sandbox', 'process'],
    default: 'sandbox',
    description:
      '`sandbox`: each kernel in a bubblewrap sandbox (`docs/security.md`); `process`: plain child processes of the gateway, unsandboxed, for development.',
  },
  RUNGATE_ACCEPT_UNSANDBOXED_KERNELS: {
    section: 'Kernels',
    type: 'bool',
    default: false,
    description: 'With `NODE_ENV=production`, `process` kernels are refused unless this is `true`.',
  },

  // ---- Sandbox and limits ----------------------------------------------------
  RUNGATE_SANDBOX_NETWORK: {
    section: 'Kernel sandbox and limits',
    type: 'enum',
    values: ['private', 'host'],
    default: 'private',
    description:
      '`private`: the kernel’s own network namespace, targets through forwarders; `host`: the host’s network (any address the host reaches).',
  },
  RUNGATE_SANDBOX_USER: {
    section: 'Kernel sandbox and limits',
    type: 'string',
    default: 'rungate-kernel',
    description: 'Host user kernels run as when the gateway runs as root (never uid or gid 0).',
  },
  RUNGATE_SANDBOX_READONLY_PATHS: {
    section: 'Kernel sandbox and limits',
    type: 'paths',
    default: [],
    description:
      'Further host paths kernels see read-only; the kernel’s Python environment, `PYTHONPATH` and kernelspec folders are always shown.',
  },
  RUNGATE_KERNEL_MEMORY_LIMIT_MB: {
    section: 'Kernel sandbox and limits',
    type: 'int',
    default: 2048,
    min: 0,
    max: 1024 * 1024,
    unit: 'MiB',
    description:
      'Memory per kernel: a cgroup limit that also counts its tmpfs, else the address space of each process (0: none).',
  },
  RUNGATE_KERNEL_PIDS_LIMIT: {
    section: 'Kernel sandbox and limits',
    type: 'int',
    default: 256,
    min: 0,
    max: 1_000_000,
    description:
      'Processes and threads per kernel: a cgroup limit, else `RLIMIT_NPROC`, counted per host user (0: none).',
  },
  RUNGATE_KERNEL_OPEN_FILES_LIMIT: {
    section: 'Kernel sandbox and limits',
    type: 'int',
    default: 1024,
    min: 0,
    max: 1_000_000,
    description: 'Open files per kernel process (0: none).',
  },
  RUNGATE_KERNEL_CPU_SECONDS: {
    section: 'Kernel sandbox and limits',
    type: 'int',
    default: 600,
    min: 0,
    max: 7 * 24 * 3600,
    unit: 's',
    description:
      'CPU seconds one execution may use, the kernel and all it started; past it the kernel is stopped. In the sandbox this needs cgroup CPU accounting (0: none).',
  },
  RUNGATE_KERNEL_TMP_SIZE_MB: {
    section: 'Kernel sandbox and limits',
    type: 'int',
    default: 256,
    min: 1,
    max: 1024 * 1024,
    unit: 'MiB',
    description:
      'Size of each of the kernel’s private `/tmp`, home and `/dev/shm`, and the largest file it may write.',
  },

  // ---- Sessions --------------------------------------------------------------
  RUNGATE_SESSION_IDLE_TIMEOUT: {
    section: 'Sessions',
    type: 'seconds',
    default: 30 * 60,
    description: 'A session with no execution for this long ends.',
  },
  RUNGATE_SESSION_MAX_LIFETIME: {
    section: 'Sessions',
    type: 'seconds',
    default: 8 * 3600,
    description: 'A session ends this long after it started, whatever it is doing.',
  },
  RUNGATE_CELL_TIMEOUT: {
    section: 'Sessions',
    type: 'seconds',
    default: 15 * 60,
    description:
      'A cell running longer is interrupted (a cell’s `metadata.rungate.timeout` overrides).',
  },
  RUNGATE_OUTPUT_CAP_BYTES: {
    section: 'Sessions',
    type: 'int',
    default: 1024 * 1024,
    min: 1024,
    max: 256 * 1024 * 1024,
    unit: 'bytes',
    description: 'Recorded output per execution; past it the record is truncated and says so.',
  },
  RUNGATE_MAX_QUEUED_EXECUTIONS: {
    section: 'Sessions',
    type: 'int',
    default: 16,
    min: 0,
    max: 1000,
    description:
      'Executions waiting behind the running one, per session; past it a request gets `409 busy`.',
  },
  RUNGATE_MAX_SESSIONS: {
    section: 'Sessions',
    type: 'int',
    default: 32,
    min: 1,
    max: 10_000,
    description: 'Open sessions (each holds a kernel) on this gateway; past it `409 busy`.',
  },
  RUNGATE_MAX_SESSIONS_PER_USER: {
    section: 'Sessions',
    type: 'int',
    default: 4,
    min: 1,
    max: 1000,
    description: 'Open sessions per person; past it `409 busy`.',
  },

  // ---- Replicas --------------------------------------------------------------
  RUNGATE_ADVERTISE_URL: {
    section: 'Replicas',
    type: 'string',
    defaultText:
      '`http://<RUNGATE_HOST>:<port>`; on a wildcard host (`0.0.0.0`, `::`), the machine’s host name',
    description:
      'Where the other replicas reach this one (an http(s) origin, no path): a request or event stream for a session whose kernel this replica holds is proxied here. In Kubernetes, the pod’s IP (`http://$(POD_IP):8080`).',
  },
  RUNGATE_REPLICA_SECRET: {
    section: 'Replicas',
    type: 'secret',
    defaultText: 'unset: a random key kept in the database, shared by every replica on it',
    description:
      'Key of the MAC a replica puts on a request it forwards to the replica holding the session, so that the owner can trust the client address it names and records one audit trail for one command. The owner authenticates the caller and decides policy again either way.',
  },
  RUNGATE_INSTANCE_HEARTBEAT_INTERVAL: {
    section: 'Replicas',
    type: 'seconds',
    default: 10,
    description:
      'How often a replica records that it is alive, and looks for replicas that are not: it marks their open sessions lost (executions abandoned, credentials revoked) and takes over their audit relay work.',
  },
  RUNGATE_INSTANCE_STALE_AFTER: {
    section: 'Replicas',
    type: 'seconds',
    default: 30,
    description:
      'A replica silent this long is presumed dead. Its sessions are marked lost within this plus one heartbeat interval (on the same host, a process that is gone is noticed at the next heartbeat). Keep it several heartbeats long: a replica presumed dead while it runs loses its sessions.',
  },

  // ---- Targets ---------------------------------------------------------------
  RUNGATE_TARGETS_FILE: {
    section: 'Targets',
    type: 'path',
    defaultText: '`targets.yaml` in the checkout, if present',
    description:
      'Production targets (see `targets.example.yaml`); their secrets are named by reference (an environment variable or a file), never written in it. A named file must exist.',
  },
  RUNGATE_TARGET_ROLE_PREFIX: {
    section: 'Targets',
    type: 'string',
    default: 'rg_',
    description:
      'Prefix of the login roles minted on `postgres` targets (1 to 20 lowercase letters, digits or `_`); roles with it left by a crash are swept at start-up.',
  },
  RUNGATE_TARGET_CONNECT_TIMEOUT: {
    section: 'Targets',
    type: 'seconds',
    default: 5,
    description: 'Bound of opening a target’s administrative connection.',
  },
  RUNGATE_TARGET_STATEMENT_TIMEOUT: {
    section: 'Targets',
    type: 'seconds',
    default: 15,
    description:
      'Bound of each statement on a target’s administrative connection (creating and dropping roles): the server’s `statement_timeout` and `lock_timeout`, and a client-side read timeout a little longer.',
  },

  // ---- Demo target -----------------------------------------------------------
  RUNGATE_DEMO_TARGET: {
    section: 'Demo target',
    type: 'bool',
    defaultText: '`true` unless `NODE_ENV=production`',
    description: 'Serve demo-shop and configure it as the `http` target `demo-shop`.',
  },
  RUNGATE_DEMO_TARGET_HOST: {
    section: 'Demo target',
    type: 'string',
    default: '127.0.0.1',
    description: 'Where demo-shop listens.',
  },
  RUNGATE_DEMO_TARGET_PORT: {
    section: 'Demo target',
    type: 'int',
    default: 8090,
    min: 0,
    max: 65535,
    description: 'Port of demo-shop.',
  },

  // ---- Audit -----------------------------------------------------------------
  KAFKA_BROKERS: {
    section: 'Audit trail and Kafka',
    type: 'string',
    defaultText: 'unset: JSON lines to `RUNGATE_AUDIT_FILE`',
    description: 'Comma-separated `host:port` list of the Kafka brokers audit events go to.',
  },
  KAFKA_CLIENT_ID: {
    section: 'Audit trail and Kafka',
    type: 'string',
    default: 'rungate',
    description: 'Kafka client id.',
  },
  KAFKA_SSL: {
    section: 'Audit trail and Kafka',
    type: 'bool',
    default: false,
    description: 'TLS to the brokers.',
  },
  KAFKA_SASL_MECHANISM: {
    section: 'Audit trail and Kafka',
    type: 'enum',
    values: ['plain', 'scram-sha-256', 'scram-sha-512'],
    description:
      'SASL authentication to the brokers (case-insensitive); needs `KAFKA_SASL_USERNAME` and `KAFKA_SASL_PASSWORD`.',
  },
  KAFKA_SASL_USERNAME: {
    section: 'Audit trail and Kafka',
    type: 'string',
    description: 'SASL user name.',
  },
  KAFKA_SASL_PASSWORD: {
    section: 'Audit trail and Kafka',
    type: 'secret',
    description: 'SASL password.',
  },
  KAFKA_CONNECTION_TIMEOUT: {
    section: 'Audit trail and Kafka',
    type: 'seconds',
    default: 3,
    description: 'Bound of establishing a broker connection (TCP, TLS and SASL).',
  },
  KAFKA_REQUEST_TIMEOUT: {
    section: 'Audit trail and Kafka',
    type: 'seconds',
    default: 10,
    description: 'Bound of each request to a broker; the relay bounds a whole publish separately.',
  },
  RUNGATE_AUDIT_TOPIC: {
    section: 'Audit trail and Kafka',
    type: 'string',
    default: 'rungate.audit',
    description: 'Topic of the audit events (1 to 249 letters, digits, `.`, `_` or `-`).',
  },
  RUNGATE_AUDIT_CREATE_TOPIC: {
    section: 'Audit trail and Kafka',
    type: 'bool',
    default: true,
    description: 'Create the topic when it does not exist.',
  },
  RUNGATE_AUDIT_TOPIC_PARTITIONS: {
    section: 'Audit trail and Kafka',
    type: 'int',
    default: 6,
    min: 1,
    max: 1000,
    description: 'Partitions of a topic the gateway creates.',
  },
  RUNGATE_AUDIT_TOPIC_REPLICATION: {
    section: 'Audit trail and Kafka',
    type: 'int',
    default: 1,
    min: 1,
    max: 10,
    description: 'Replication factor of a topic the gateway creates.',
  },
  RUNGATE_AUDIT_FILE: {
    section: 'Audit trail and Kafka',
    type: 'path',
    defaultText: '`audit.jsonl` under `RUNGATE_DATA_DIR`',
    description: 'Where events go, as JSON lines, when no brokers are configured.',
  },
  RUNGATE_AUDIT_RETENTION: {
    section: 'Audit trail and Kafka',
    type: 'int',
    default: 7 * 24 * 3600,
    min: 0,
    max: 10 * 365 * 24 * 3600,
    unit: 's',
    description:
      'How long published events stay in the database outbox (and `GET /v1/audit/events`) before they are pruned (0: kept for ever).',
  },
  RUNGATE_AUDIT_BACKLOG_READY_THRESHOLD: {
    section: 'Audit trail and Kafka',
    type: 'int',
    default: 10_000,
    min: 1,
    max: 100_000_000,
    description:
      '`/readyz` reports the audit relay down when more events than this wait to be published.',
  },
  RUNGATE_AUDIT_BACKLOG_READY_MAX_AGE: {
    section: 'Audit trail and Kafka',
    type: 'seconds',
    default: 300,
    description:
      '`/readyz` reports the audit relay down when the oldest event waiting to be published is older than this.',
  },
  RUNGATE_AUDIT_RECORD_OUTPUTS: {
    section: 'Audit trail and Kafka',
    type: 'bool',
    default: false,
    description:
      'Put each execution’s (redacted, size-capped) outputs in its `cell.execution.completed` event as well as its digest.',
  },
  RUNGATE_AUDIT_RELAY_POLL_INTERVAL: {
    section: 'Audit trail and Kafka',
    type: 'seconds',
    default: 1,
    description: 'How often the relay looks for unpublished events (it is also woken on commit).',
  },
  RUNGATE_AUDIT_RELAY_BATCH: {
    section: 'Audit trail and Kafka',
    type: 'int',
    default: 2000,
    min: 1,
    max: 10_000,
    description:
      'Events the relay reads, publishes and marks per batch (it reads the next batch while one is being published; a batch goes to Kafka as requests of at most 900 KiB).',
  },
  RUNGATE_AUDIT_SOURCE: {
    section: 'Audit trail and Kafka',
    type: 'string',
    defaultText: '`urn:rungate:<hostname>`',
    description: 'CloudEvents `ce_source` of the published events.',
  },
  RUNGATE_CURSOR_SECRET: {
    section: 'Audit trail and Kafka',
    type: 'secret',
    defaultText: 'unset: a random key per process',
    description:
      'Key of the MAC on `GET /v1/audit/events` cursors. Replicas behind one address need the same value; unset, each process refuses the cursors of the others (a client then starts from the first page).',
  },

  // ---- Approvals -------------------------------------------------------------
  RUNGATE_APPROVAL_PENDING_TTL: {
    section: 'Approvals',
    type: 'seconds',
    default: 3600,
    description: 'How long a request waits for its quorum before it expires.',
  },
  RUNGATE_APPROVAL_USE_WINDOW: {
    section: 'Approvals',
    type: 'seconds',
    default: 900,
    description: 'How long a granted approval stays usable.',
  },
  RUNGATE_APPROVAL_SWEEP_INTERVAL: {
    section: 'Approvals',
    type: 'seconds',
    default: 15,
    description:
      'How often requests past their TTL and grants past their use window are marked expired.',
  },
  RUNGATE_APPROVAL_READ_WINDOW: {
    section: 'Approvals',
    type: 'int',
    default: 3600,
    min: 0,
    max: 7 * 24 * 3600,
    unit: 's',
    description:
      'How long after a request is settled (denied, expired, cancelled, used, acknowledged; a grant counts as settled when its use window ends) the people who may review it can still read its session (`session:read-as-reviewer` in `policies/`). From the request until then, an approver reads the session it belongs to; before and after, not. Keep it above the cell timeout, so that an approver sees what the cell they approved did. 0: only while the request is open.',
  },
  RUNGATE_APPROVAL_WEBHOOK_URL: {
    section: 'Approvals',
    type: 'string',
    description:
      'Signed notifications of requests, grants, denials, expiries and break-glass runs (http or https), each with a link to the approval’s page and a ready Slack message. Needs `RUNGATE_APPROVAL_WEBHOOK_SECRET`.',
  },
  RUNGATE_APPROVAL_WEBHOOK_SECRET: {
    section: 'Approvals',
    type: 'secret',
    description:
      'Key of the notifications’ HMAC signature; required with a webhook URL. A `_FILE` is read again for each notification, so it can be rotated in place.',
  },
  RUNGATE_APPROVAL_WEBHOOK_FORMAT: {
    section: 'Approvals',
    type: 'enum',
    values: ['rungate', 'slack'],
    default: 'rungate',
    description: '`slack` sends only the Slack message (for a Slack incoming webhook).',
  },
  RUNGATE_APPROVAL_WEBHOOK_ATTEMPTS: {
    section: 'Approvals',
    type: 'int',
    default: 6,
    min: 1,
    max: 20,
    description: 'Deliveries tried per notification before it is given up (and logged).',
  },
  RUNGATE_APPROVAL_WEBHOOK_BACKOFF: {
    section: 'Approvals',
    type: 'seconds',
    default: 1,
    description: 'First wait between deliveries; it doubles, with jitter.',
  },
  RUNGATE_APPROVAL_WEBHOOK_MAX_BACKOFF: {
    section: 'Approvals',
    type: 'seconds',
    default: 60,
    description: 'Longest wait between deliveries.',
  },
  RUNGATE_APPROVAL_WEBHOOK_TIMEOUT: {
    section: 'Approvals',
    type: 'seconds',
    default: 5,
    description: 'Bound of one delivery.',
  },
} as const satisfies Record<string, Setting>;

export type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;

/** The names of the settings of one type. */
export type SettingNameOf<T extends Setting['type']> = {
  [K in SettingName]: Settings[K]['type'] extends T ? K : never;
}[SettingName];

/** Whether `name` is a setting, for readers of untyped input. */
export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}
