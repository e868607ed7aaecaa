-- FHIR R4 store: current resources, version history, search index tables (one per value kind) and the outbox.
-- Text columns compared in search use COLLATE "C" so that prefix LIKE uses the btree indexes and sort order is
-- byte order on both PGlite and PostgreSQL.

CREATE TABLE resources (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version_id integer NOT NULL,
  builder_id text NOT NULL,
  upid text,
  restricted boolean NOT NULL DEFAULT false,
  deleted boolean NOT NULL DEFAULT false,
  source text,
  created_at timestamptz NOT NULL,
  last_updated timestamptz NOT NULL,
  content jsonb,
  PRIMARY KEY (type, id)
);
-- type-level scans per owner, ordered by lastUpdated (history, _lastUpdated, default listing)
CREATE INDEX resources_builder_type_updated ON resources (builder_id, type, last_updated);
CREATE INDEX resources_upid ON resources (upid) WHERE upid IS NOT NULL;

CREATE TABLE resource_versions (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  version_id integer NOT NULL,
  builder_id text NOT NULL,
  upid text,
  restricted boolean NOT NULL DEFAULT false,
  deleted boolean NOT NULL DEFAULT false,
  last_updated timestamptz NOT NULL,
  method text NOT NULL,
  content jsonb,
  PRIMARY KEY (type, id, version_id)
);
CREATE INDEX resource_versions_builder_updated ON resource_versions (builder_id, last_updated);

-- Search index rows exist only for current, non-deleted versions; a write replaces a resource's rows.
CREATE TABLE idx_token (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  system text COLLATE "C",
  code text COLLATE "C",
  display text
);
CREATE INDEX idx_token_search ON idx_token (type, param, code, system);
CREATE INDEX idx_token_resource ON idx_token (id, type);

CREATE TABLE idx_string (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  -- normalized (case and accents folded) for the default prefix match; raw for :exact
  value text COLLATE "C" NOT NULL,
  raw text COLLATE "C"
);
CREATE INDEX idx_string_search ON idx_string (type, param, value);
CREATE INDEX idx_string_resource ON idx_string (id, type);

CREATE TABLE idx_date (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  start_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL
);
CREATE INDEX idx_date_search ON idx_date (type, param, start_at, end_at);
CREATE INDEX idx_date_resource ON idx_date (id, type);

CREATE TABLE idx_reference (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  target_type text COLLATE "C",
  target_id text COLLATE "C",
  reference text COLLATE "C" NOT NULL
);
-- "which resources of type X point at target T through param P" (search, chains, _revinclude)
CREATE INDEX idx_reference_search ON idx_reference (target_id, type, param);
CREATE INDEX idx_reference_url ON idx_reference (reference) WHERE target_id IS NULL;
CREATE INDEX idx_reference_resource ON idx_reference (id, type);

CREATE TABLE idx_number (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  value numeric NOT NULL
);
CREATE INDEX idx_number_search ON idx_number (type, param, value);
CREATE INDEX idx_number_resource ON idx_number (id, type);

CREATE TABLE idx_quantity (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  value numeric NOT NULL,
  system text COLLATE "C",
  code text COLLATE "C",
  unit text COLLATE "C"
);
CREATE INDEX idx_quantity_search ON idx_quantity (type, param, value);
CREATE INDEX idx_quantity_resource ON idx_quantity (id, type);

CREATE TABLE idx_uri (
  type text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  builder_id text NOT NULL,
  param text COLLATE "C" NOT NULL,
  value text COLLATE "C" NOT NULL
);
CREATE INDEX idx_uri_search ON idx_uri (type, param, value);
CREATE INDEX idx_uri_resource ON idx_uri (id, type);

-- Change events written in the same transaction as the change (webhooks read them).
CREATE TABLE outbox (
  seq bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  event jsonb NOT NULL
);
