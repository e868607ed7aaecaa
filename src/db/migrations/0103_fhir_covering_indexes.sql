-- Per-resource index lookups (nested search filters, sort keys, replacement on update) read only the index:
-- the token/date/string checks of a multi-parameter search run as index-only scans.
DROP INDEX idx_token_resource;
CREATE INDEX idx_token_resource ON idx_token (id, type, param, code, system);
DROP INDEX idx_date_resource;
CREATE INDEX idx_date_resource ON idx_date (id, type, param, start_at, end_at);
DROP INDEX idx_string_resource;
CREATE INDEX idx_string_resource ON idx_string (id, type, param, value);
