-- Replicas: where each gateway instance is reached by the others (to proxy a request
-- for a session whose kernel it holds), and the key replicas sign forwarded requests
-- with when RUNGATE_REPLICA_SECRET is not set (every replica on this database shares it).
ALTER TABLE gateway_instances ADD COLUMN advertise_url text;

CREATE TABLE replica_key (
  singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  secret     text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The open sessions of one instance: what survivors mark lost when it is gone.
CREATE INDEX sessions_instance_open_idx ON sessions (instance_id)
  WHERE state NOT IN ('ended', 'lost');
