-- Sharing between builders (issue 4; rules in src/access/policy.ts, docs/sharing.md).
--
-- sharing_patients: one row per live Patient that has a UPID (its builder, UPID and Patient.active).
-- sharing_pairs: (upid, viewer, owner) for every UPID where `viewer` has an ACTIVE Patient (a treatment
--   relationship) and `owner`, another builder, has a Patient (any state). Owner's Designated Record Set data for
--   that UPID is readable by the viewer. A UPID held by one builder only has no rows, so a builder none of whose
--   patients is linked to another builder has no rows at all (its searches keep the plain own-builder predicate).
-- Both are kept by triggers on `resources`, so every path that changes a Patient row (the store's write path,
-- UPI re-stamping, merges) keeps them current inside the same transaction.
CREATE TABLE sharing_patients (
  patient_id text COLLATE "C" PRIMARY KEY,
  builder_id text NOT NULL,
  upid text NOT NULL,
  active boolean NOT NULL
);
CREATE INDEX sharing_patients_upid ON sharing_patients (upid, builder_id);

CREATE TABLE sharing_pairs (
  upid text NOT NULL,
  owner_id text NOT NULL,
  viewer_id text NOT NULL,
  PRIMARY KEY (upid, owner_id, viewer_id)
);
CREATE INDEX sharing_pairs_viewer ON sharing_pairs (viewer_id, upid);

-- Recomputes the pairs of one UPID from sharing_patients. Serialised per UPID so that two builders linking the
-- same person at once both see each other (each statement takes a fresh snapshot after the lock).
CREATE FUNCTION sharing_recompute(u text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('sharing:' || u));
  DELETE FROM sharing_pairs WHERE upid = u;
  INSERT INTO sharing_pairs (upid, owner_id, viewer_id)
    SELECT DISTINCT u, o.builder_id, v.builder_id
      FROM sharing_patients v JOIN sharing_patients o ON o.upid = v.upid AND o.builder_id <> v.builder_id
     WHERE v.upid = u AND v.active;
END $$;

CREATE FUNCTION sharing_patient_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  old_upid text := NULL;
  new_upid text := NULL;
BEGIN
  IF TG_OP = 'UPDATE' AND OLD.upid IS NOT DISTINCT FROM NEW.upid AND OLD.deleted = NEW.deleted
     AND OLD.builder_id = NEW.builder_id AND (OLD.content->'active') IS NOT DISTINCT FROM (NEW.content->'active') THEN
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' AND NOT OLD.deleted THEN old_upid := OLD.upid; END IF;
  IF TG_OP = 'DELETE' OR NEW.deleted OR NEW.upid IS NULL THEN
    DELETE FROM sharing_patients WHERE patient_id = OLD.id;
  ELSE
    new_upid := NEW.upid;
    INSERT INTO sharing_patients (patient_id, builder_id, upid, active)
      VALUES (NEW.id, NEW.builder_id, NEW.upid, COALESCE(NEW.content->'active' = 'true'::jsonb, false))
      ON CONFLICT (patient_id) DO UPDATE SET builder_id = EXCLUDED.builder_id, upid = EXCLUDED.upid, active = EXCLUDED.active;
  END IF;
  IF old_upid IS NOT NULL THEN PERFORM sharing_recompute(old_upid); END IF;
  IF new_upid IS NOT NULL AND new_upid IS DISTINCT FROM old_upid THEN PERFORM sharing_recompute(new_upid); END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER resources_sharing_patient_ins AFTER INSERT ON resources
  FOR EACH ROW WHEN (NEW.type = 'Patient') EXECUTE FUNCTION sharing_patient_changed();
CREATE TRIGGER resources_sharing_patient_upd AFTER UPDATE ON resources
  FOR EACH ROW WHEN (NEW.type = 'Patient') EXECUTE FUNCTION sharing_patient_changed();
CREATE TRIGGER resources_sharing_patient_del AFTER DELETE ON resources
  FOR EACH ROW WHEN (OLD.type = 'Patient') EXECUTE FUNCTION sharing_patient_changed();

-- Binary is not a DomainResource (no extension for the UPID): a Binary whose securityContext names a Patient
-- takes that Patient's UPID, so source documents (C-CDA, ADT messages) are shared with the rest of the record.
CREATE FUNCTION sharing_binary_upid() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  pid text;
BEGIN
  pid := substring(NEW.content->'securityContext'->>'reference' from '^Patient/([A-Za-z0-9.-]{1,64})$');
  IF pid IS NOT NULL THEN
    NEW.upid := (SELECT p.upid FROM upi_persons p WHERE p.patient_id = pid);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER resources_binary_upid BEFORE INSERT OR UPDATE ON resources
  FOR EACH ROW WHEN (NEW.type = 'Binary' AND NEW.upid IS NULL AND NEW.content IS NOT NULL) EXECUTE FUNCTION sharing_binary_upid();
CREATE TRIGGER resource_versions_binary_upid BEFORE INSERT ON resource_versions
  FOR EACH ROW WHEN (NEW.type = 'Binary' AND NEW.upid IS NULL AND NEW.content IS NOT NULL) EXECUTE FUNCTION sharing_binary_upid();

-- Existing databases: fill both tables from the current Patients.
INSERT INTO sharing_patients (patient_id, builder_id, upid, active)
  SELECT id, builder_id, upid, COALESCE(content->'active' = 'true'::jsonb, false) FROM resources
   WHERE type = 'Patient' AND NOT deleted AND upid IS NOT NULL;
INSERT INTO sharing_pairs (upid, owner_id, viewer_id)
  SELECT DISTINCT v.upid, o.builder_id, v.builder_id
    FROM sharing_patients v JOIN sharing_patients o ON o.upid = v.upid AND o.builder_id <> v.builder_id
   WHERE v.active;
