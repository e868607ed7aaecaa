-- ZusHooks: webhook configurations (secrets sealed with the key ring) and the outbox dispatcher's cursor.
-- Deliveries are jobs of the 'hooks.delivery' queue (0600_queue.sql), one per (outbox event, hook).
CREATE TABLE hooks (
  id text PRIMARY KEY,
  builder_id text NOT NULL,
  webhook_url text NOT NULL,
  filter text NOT NULL,
  auth_type text NOT NULL CHECK (auth_type IN ('basic', 'oauth')),
  basic_username text,
  basic_password_sealed text,
  oauth_client_id text,
  oauth_client_secret_sealed text,
  oauth_token_url text,
  oauth_audience text,
  signing_secret_sealed text NOT NULL,
  -- the previous signing secret keeps signing (a second signature) until this time, for rotation
  previous_signing_secret_sealed text,
  previous_secret_until timestamptz,
  active boolean NOT NULL DEFAULT true,
  paused boolean NOT NULL DEFAULT false,
  -- bumped on every change: compiled filters and OAuth tokens are cached per (id, version)
  version integer NOT NULL DEFAULT 1,
  filter_errors bigint NOT NULL DEFAULT 0,
  last_filter_error text,
  last_filter_error_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX hooks_builder ON hooks (builder_id, created_at);

-- Position of the dispatcher in the outbox: every event up to last_seq has its deliveries recorded.
CREATE TABLE hook_dispatch_cursor (
  name text PRIMARY KEY,
  last_seq bigint NOT NULL,
  updated_at timestamptz NOT NULL
);
