-- Resource JSON is compressed on every write (twice: current row and version row); lz4 costs a fraction of the
-- default pglz CPU. Builds without lz4 support keep pglz (same SQL everywhere; the DO block tolerates it).
DO $$
BEGIN
  ALTER TABLE resources ALTER COLUMN content SET COMPRESSION lz4;
  ALTER TABLE resource_versions ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN others THEN
  RAISE NOTICE 'lz4 compression not available; keeping the default';
END $$;
