-- Sessions and their executions. A session pins the runbook version it started
-- with: the normalized notebook is stored so that it runs the same after a restart.
CREATE TABLE runbook_snapshots (
  runbook_id text NOT NULL,
  version    text NOT NULL,
  content    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (runbook_id, version)
);

CREATE TABLE sessions (
  id               uuid PRIMARY KEY,
  runbook_id       text NOT NULL,
  runbook_version  text NOT NULL,
  environment      text NOT NULL,
  targets          jsonb NOT NULL DEFAULT '[]',
  parameters       jsonb NOT NULL DEFAULT '{}',
  reason           text NOT NULL,
  incident         text,
  owner_sub        text NOT NULL,
  owner_name       text NOT NULL,
  state            text NOT NULL,
  kernel_id        text,
  kernel_pid       integer,
  kernel_name      text,
  instance_id      text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_activity_at timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  ended_at         timestamptz,
  end_reason       text,
  FOREIGN KEY (runbook_id, runbook_version) REFERENCES runbook_snapshots (runbook_id, version),
  CHECK (state IN ('starting', 'idle', 'busy', 'kernel_dead', 'ended', 'lost'))
);
CREATE INDEX sessions_owner_idx ON sessions (owner_sub, created_at DESC);
CREATE INDEX sessions_open_idx ON sessions (state) WHERE state NOT IN ('ended', 'lost');

CREATE TABLE executions (
  id              uuid PRIMARY KEY,
  session_id      uuid NOT NULL REFERENCES sessions (id),
  seq             integer NOT NULL,
  cell_id         text NOT NULL,
  cell_index      integer,
  cell_sha256     text NOT NULL,
  cell_class      text NOT NULL,
  code            text NOT NULL,
  state           text NOT NULL,
  execution_count integer,
  error           jsonb,
  outputs         jsonb NOT NULL DEFAULT '[]',
  output_bytes    integer NOT NULL DEFAULT 0,
  truncated       boolean NOT NULL DEFAULT false,
  requested_by_sub  text NOT NULL,
  requested_by_name text NOT NULL,
  requested_at    timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  UNIQUE (session_id, seq),
  CHECK (state IN ('queued', 'running', 'ok', 'error', 'interrupted', 'kernel_died', 'cancelled'))
);
