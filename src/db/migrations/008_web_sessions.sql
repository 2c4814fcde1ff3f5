-- Web sessions of the backend-for-frontend (see src/web and docs/web.md). The browser
-- holds a random cookie; a row is found by the sha256 of that value, never the value,
-- and its tokens are sealed (AES-256-GCM) under a key derived from the value, so a
-- copy of this table yields neither a usable cookie nor a token.
CREATE TABLE web_sessions (
  key_hash         text        PRIMARY KEY,
  sub              text        NOT NULL,
  name             text        NOT NULL,
  -- The synchronizer token state-changing requests carry in X-CSRF-Token. Useless
  -- without the cookie, so kept as it is.
  csrf_token       text        NOT NULL,
  -- version byte, IV, GCM tag, ciphertext of { accessToken, refreshToken?, idToken? }.
  tokens           bytea       NOT NULL,
  -- When the access token expires; it is refreshed shortly before.
  access_expires_at timestamptz NOT NULL,
  -- The person's last authentication at the issuer (ID token auth_time), for step-up.
  auth_time        timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now(),
  -- Absolute end: created_at plus the configured lifetime.
  expires_at       timestamptz NOT NULL,
  -- Bumped by each token refresh, so concurrent refreshes do not overwrite each other.
  version          integer     NOT NULL DEFAULT 1
);

CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);
CREATE INDEX web_sessions_last_seen_at ON web_sessions (last_seen_at);

-- Sign-ins in progress: created by GET /auth/login, consumed once by /auth/callback.
-- Keyed by the sha256 of the rungate_login cookie, which binds the flow to the browser
-- that started it; the PKCE verifier is sealed under that cookie as tokens are above.
CREATE TABLE web_logins (
  key_hash      text        PRIMARY KEY,
  state         text        NOT NULL,
  nonce         text        NOT NULL,
  code_verifier bytea       NOT NULL,
  return_to     text        NOT NULL,
  -- max_age sent to the issuer (step-up), checked against the ID token's auth_time.
  max_age       integer,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL
);

CREATE INDEX web_logins_expires_at ON web_logins (expires_at);
