-- UPI links, merges, unmerges and network identities.
-- upi_assignments becomes the versioned history of every UPID change: who did it (actor) and a detail object
-- (the UPID a merge absorbed, the pair an unmerge split, the network identity that linked two records).
ALTER TABLE upi_assignments ADD COLUMN actor text;
ALTER TABLE upi_assignments ADD COLUMN detail jsonb;
CREATE INDEX upi_assignments_new_upid_idx ON upi_assignments (new_upid);
CREATE INDEX upi_assignments_old_upid_idx ON upi_assignments (old_upid) WHERE old_upid IS NOT NULL;

-- Identities confirmed by external networks during patient-history discovery (notes §5: "network records get
-- extra weight"). One row per (network, network person, our Patient).
CREATE TABLE upi_network_identities (
  network text NOT NULL,
  network_person_id text NOT NULL,
  patient_id text NOT NULL,
  builder_id text NOT NULL,
  score double precision,
  demographics jsonb NOT NULL,
  first_seen_at timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL,
  PRIMARY KEY (network, network_person_id, patient_id)
);
CREATE INDEX upi_network_identities_patient_idx ON upi_network_identities (patient_id);
