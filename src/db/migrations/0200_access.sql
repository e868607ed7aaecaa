-- Builders (tenants), machine clients, and token-request accounting for rate limiting.
CREATE TABLE builders (
  id text PRIMARY KEY,
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX builders_name_idx ON builders (lower(name));

CREATE TABLE app_clients (
  id text PRIMARY KEY,                      -- the OAuth client_id
  builder_id text REFERENCES builders(id),  -- NULL only for the platform admin client
  name text NOT NULL,
  client_type text NOT NULL,                -- machine_to_machine | native | regular_web_application | single_page_application
  user_type text NOT NULL DEFAULT 'builder',
  role_id text NOT NULL,
  secret_hash text NOT NULL,                -- sha256 of a 256-bit random secret; never the secret itself
  is_platform_admin boolean NOT NULL DEFAULT false,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX app_clients_builder_idx ON app_clients (builder_id, created_at);

-- One row per token request (successful or not) for the per-client hourly limit; old rows are pruned.
CREATE TABLE token_requests (
  client_id text NOT NULL,
  requested_at timestamptz NOT NULL
);
CREATE INDEX token_requests_client_idx ON token_requests (client_id, requested_at);
