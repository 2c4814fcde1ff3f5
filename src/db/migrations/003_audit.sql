-- The audit trail. audit_events is the transactional outbox and the queryable log
-- at once: a state change and its event commit together, the relay publishes the
-- rows in per-chain order and stamps published_at, the retention job prunes
-- published rows. See src/audit and docs/audit.md.

-- One row per hash chain (a session id, or 'gateway' for events outside sessions):
-- its head. Recording an event locks this row (SELECT ... FOR UPDATE), so the
-- events of one chain get consecutive seq numbers in commit order.
CREATE TABLE audit_chains (
  chain        text        PRIMARY KEY,
  seq          bigint      NOT NULL,
  head_hash    text        NOT NULL,
  updated_at   timestamptz NOT NULL DEFAULT now(),
  -- What the retention job removed from the start of the chain: verification of
  -- what is left starts after this seq and expects this hash as the first prev_hash.
  pruned_seq   bigint      NOT NULL DEFAULT 0,
  pruned_hash  text
);

CREATE TABLE audit_events (
  id           uuid        PRIMARY KEY,
  chain        text        NOT NULL,
  seq          bigint      NOT NULL,
  type         text        NOT NULL,
  time         timestamptz NOT NULL,
  severity     text        NOT NULL,
  session_id   text,
  actor_sub    text,
  actor_name   text,
  trace_id     text,
  -- W3C trace context for the Kafka headers (the event body carries only the ids).
  traceparent  text,
  tracestate   text,
  prev_hash    text        NOT NULL,
  hash         text        NOT NULL,
  -- The event exactly as hashed and published: canonical JSON, hash included. Text,
  -- not jsonb, so it is stored byte for byte (jsonb would re-serialize it, and
  -- refuses \u0000, which cell code or outputs may contain).
  body         text        NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  UNIQUE (chain, seq),
  CHECK (severity IN ('info', 'warning', 'critical'))
);

-- The relay's work list: unpublished rows in chain order.
CREATE INDEX audit_events_unpublished ON audit_events (chain, seq) WHERE published_at IS NULL;
-- Retention: published rows by age.
CREATE INDEX audit_events_published ON audit_events (published_at) WHERE published_at IS NOT NULL;
-- The audit API: newest first, filtered by session, actor or type.
CREATE INDEX audit_events_time ON audit_events (time DESC, id DESC);
CREATE INDEX audit_events_session ON audit_events (session_id, time DESC) WHERE session_id IS NOT NULL;
CREATE INDEX audit_events_actor ON audit_events (actor_sub, time DESC);
CREATE INDEX audit_events_type ON audit_events (type, time DESC);

-- Which relay (gateway instance) currently publishes a chain. A lease instead of a
-- row lock held while publishing: no transaction stays open across a Kafka round
-- trip (the embedded database has a single connection), and a crashed replica's
-- chains are taken over when its lease runs out.
CREATE TABLE audit_relay_leases (
  chain      text        PRIMARY KEY,
  owner      text        NOT NULL,
  expires_at timestamptz NOT NULL
);
