-- Approvals of mutating cells (see src/approvals and docs/approvals.md). A row is a
-- request and what it is bound to: the session, the cell and the sha256 of its
-- source, the parameter set, the targets and environment. Its state moves only as
-- src/approvals/approval-state.ts allows; each move is a row in approval_transitions
-- and an audit event in the same transaction.
CREATE TABLE approvals (
  id                    uuid        PRIMARY KEY,
  session_id            uuid        NOT NULL REFERENCES sessions (id),
  runbook_id            text        NOT NULL,
  runbook_version       text        NOT NULL,
  cell_id               text        NOT NULL,
  cell_index            integer     NOT NULL,
  cell_sha256           text        NOT NULL,
  -- The source as approved: what approvers saw, and the base of later diffs.
  cell_code             text        NOT NULL,
  parameters            jsonb       NOT NULL,
  parameters_sha256     text        NOT NULL,
  targets               jsonb       NOT NULL,
  environment           text        NOT NULL,
  requester_sub         text        NOT NULL,
  requester_name        text        NOT NULL,
  requester_groups      jsonb       NOT NULL DEFAULT '[]',
  reason                text        NOT NULL,
  incident              text,
  state                 text        NOT NULL,
  breakglass            boolean     NOT NULL DEFAULT false,
  severity              text        NOT NULL DEFAULT 'info',
  -- The quorum in force when it was requested: { approvers, distinctGroups, rule }.
  quorum                jsonb       NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  expires_at            timestamptz NOT NULL,
  approved_at           timestamptz,
  use_by                timestamptz,
  closed_at             timestamptz,
  closed_by_sub         text,
  closed_by_name        text,
  close_comment         text,
  consumed_at           timestamptz,
  consumed_execution_id uuid,
  consumed_by_sub       text,
  consumed_by_name      text,
  CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled', 'consumed',
                   'needs_review', 'reviewed')),
  CHECK (severity IN ('info', 'critical')),
  CHECK (cell_sha256 ~ '^[0-9a-f]{64}$' AND parameters_sha256 ~ '^[0-9a-f]{64}$')
);

-- One open request (pending, or granted and unused) per session and cell.
CREATE UNIQUE INDEX approvals_one_open ON approvals (session_id, cell_id)
  WHERE state IN ('pending', 'approved');
CREATE INDEX approvals_by_state ON approvals (state, created_at DESC);
CREATE INDEX approvals_by_session ON approvals (session_id, cell_id, created_at DESC);
-- The last used approval of a cell, for the diff approvers see when the code changed.
CREATE INDEX approvals_consumed_cell ON approvals (runbook_id, cell_id, consumed_at DESC)
  WHERE state IN ('consumed', 'needs_review', 'reviewed');
-- The sweeper's work.
CREATE INDEX approvals_pending_expiry ON approvals (expires_at) WHERE state = 'pending';
CREATE INDEX approvals_use_expiry ON approvals (use_by) WHERE state = 'approved';

-- Each reviewer's decision; a person reviews a request once.
CREATE TABLE approval_reviews (
  approval_id     uuid        NOT NULL REFERENCES approvals (id),
  reviewer_sub    text        NOT NULL,
  reviewer_name   text        NOT NULL,
  reviewer_groups jsonb       NOT NULL DEFAULT '[]',
  decision        text        NOT NULL,
  comment         text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (approval_id, reviewer_sub),
  CHECK (decision IN ('approve', 'deny'))
);

-- Every state change, with who made it (NULL sub: the gateway itself, e.g. expiry).
CREATE TABLE approval_transitions (
  id          bigserial   PRIMARY KEY,
  approval_id uuid        NOT NULL REFERENCES approvals (id),
  from_state  text        NOT NULL,
  to_state    text        NOT NULL,
  event       text        NOT NULL,
  actor_sub   text,
  actor_name  text,
  comment     text,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX approval_transitions_by_approval ON approval_transitions (approval_id, id);
