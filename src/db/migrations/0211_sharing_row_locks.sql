-- sharing_recompute serialised per UPID with a row lock instead of an advisory lock: a transaction writing many
-- Patients (bulk imports, backfills) took one advisory lock per UPID and ran out of the shared lock table
-- ("out of shared memory", max_locks_per_transaction). A row lock lives in the tuple and has no such limit.
CREATE TABLE sharing_upids (upid text PRIMARY KEY);

CREATE OR REPLACE FUNCTION sharing_recompute(u text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- waits for another transaction recomputing the same UPID to finish; later statements see what it committed
  INSERT INTO sharing_upids (upid) VALUES (u) ON CONFLICT (upid) DO UPDATE SET upid = EXCLUDED.upid;
  DELETE FROM sharing_pairs WHERE upid = u;
  INSERT INTO sharing_pairs (upid, owner_id, viewer_id)
    SELECT DISTINCT u, o.builder_id, v.builder_id
      FROM sharing_patients v JOIN sharing_patients o ON o.upid = v.upid AND o.builder_id <> v.builder_id
     WHERE v.upid = u AND v.active;
END $$;
