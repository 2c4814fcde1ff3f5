-- Approval webhook notifications as a transactional outbox (see src/approvals and
-- docs/approvals.md). A row is written in the transaction of the approval step it
-- announces, so a step and its notification commit together or not at all, and a
-- delivery still retrying when the gateway stops is picked up by the next one.
CREATE TABLE approval_notifications (
  -- The delivery id: X-Rungate-Delivery, the same on every attempt.
  id              uuid        PRIMARY KEY,
  approval_id     uuid        NOT NULL REFERENCES approvals (id),
  type            text        NOT NULL,
  -- The exact JSON that is signed and sent.
  body            text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer     NOT NULL DEFAULT 0,
  -- When the next attempt is due; while an attempt runs, the end of its lease.
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  -- Why the last attempt failed, short: a status or an error code, never a secret.
  last_error      text,
  gave_up_at      timestamptz
);

-- What the sender polls: the deliveries still to make, by due time.
CREATE INDEX approval_notifications_due ON approval_notifications (next_attempt_at)
  WHERE delivered_at IS NULL AND gave_up_at IS NULL;

CREATE INDEX approval_notifications_approval ON approval_notifications (approval_id);
