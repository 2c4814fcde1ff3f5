-- Every start of a gateway process. Replicas that share the database tell each
-- other apart by this id: a session records the instance holding its kernel, and
-- an instance whose heartbeat stopped without stopped_at has crashed, so its
-- sessions and leftover credentials can be swept.
CREATE TABLE gateway_instances (
  id           uuid        PRIMARY KEY,
  host         text        NOT NULL,
  pid          integer     NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  stopped_at   timestamptz
);

CREATE INDEX gateway_instances_running ON gateway_instances (heartbeat_at) WHERE stopped_at IS NULL;
