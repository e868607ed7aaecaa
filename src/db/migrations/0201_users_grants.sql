-- Users, password/verification tokens, the local mail outbox, OAuth authorization codes, login sessions with
-- rotating refresh tokens, revoked access tokens, login throttling, cross-builder grants and the audit fallback.

-- Where a browser app (single_page_application, native, regular_web_application) may be sent back after login.
ALTER TABLE app_clients ADD COLUMN redirect_uris text[] NOT NULL DEFAULT '{}';

CREATE TABLE users (
  id text PRIMARY KEY,
  builder_id text NOT NULL REFERENCES builders(id),
  email text NOT NULL,
  name text NOT NULL,
  user_type text NOT NULL DEFAULT 'builder',
  role_id text NOT NULL,
  password_hash text,                        -- argon2id PHC string; NULL until the user sets a password
  password_changed_at timestamptz,
  email_verified boolean NOT NULL DEFAULT false,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
-- The email is the login name, so it is unique across the platform.
CREATE UNIQUE INDEX users_email_idx ON users (lower(email));
CREATE INDEX users_builder_idx ON users (builder_id, created_at);

-- Single-use tokens mailed to users (password setup, password reset, email verification); only hashes are kept.
CREATE TABLE user_tokens (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id),
  purpose text NOT NULL,                     -- password_setup | password_reset | verify_email
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose);

-- Mail written here when no SMTP server is configured; operators read it with `tessera mail list|show`.
CREATE TABLE mail_outbox (
  id text PRIMARY KEY,
  created_at timestamptz NOT NULL,
  to_address text NOT NULL,
  subject text NOT NULL,
  text_body text NOT NULL,
  html_body text
);
CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at);

-- One login of a user through one app client; refresh tokens rotate within it. Revoking it ends every token of it.
CREATE TABLE auth_sessions (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id),
  client_id text NOT NULL REFERENCES app_clients(id),
  scope text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_id);

CREATE TABLE authorization_codes (
  code_hash text PRIMARY KEY,
  client_id text NOT NULL,
  user_id text NOT NULL,
  redirect_uri text NOT NULL,
  code_challenge text NOT NULL,              -- S256 only
  scope text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at timestamptz,
  session_id text                            -- set when redeemed: a replayed code revokes that session
);

CREATE TABLE refresh_tokens (
  token_hash text PRIMARY KEY,
  session_id text NOT NULL REFERENCES auth_sessions(id),
  created_at timestamptz NOT NULL,
  used_at timestamptz                        -- rotated: presenting it again is reuse and revokes the session
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Access tokens revoked before their expiry (RFC 7009); kept until they would have expired anyway.
CREATE TABLE revoked_tokens (
  jti text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);

-- Failed logins per account and per client IP, for throttling.
CREATE TABLE login_failures (
  key text NOT NULL,                         -- account:<email> | ip:<address>
  failed_at timestamptz NOT NULL
);
CREATE INDEX login_failures_key_idx ON login_failures (key, failed_at);

-- A grantor lets a grantee act on its data (one direction). Only the platform admin creates or revokes them.
CREATE TABLE cross_builder_grants (
  id text PRIMARY KEY,
  grantor_builder_id text NOT NULL REFERENCES builders(id),
  grantee_builder_id text NOT NULL REFERENCES builders(id),
  relationship text NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_by text,
  CHECK (grantor_builder_id <> grantee_builder_id)
);
CREATE UNIQUE INDEX cross_builder_grants_active_idx ON cross_builder_grants (grantee_builder_id, grantor_builder_id) WHERE revoked_at IS NULL;
CREATE INDEX cross_builder_grants_grantor_idx ON cross_builder_grants (grantor_builder_id);
