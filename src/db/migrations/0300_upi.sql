-- Universal patient index: one row per Patient (its UPID and the demographics it was matched on), blocking keys
-- for candidate lookup, possible matches held for a human, and the history of UPID assignments.
CREATE TABLE upi_persons (
  patient_id text PRIMARY KEY,
  builder_id text NOT NULL,
  upid text NOT NULL,
  record jsonb NOT NULL,
  manual boolean NOT NULL DEFAULT false,     -- a human confirmed this UPID: matching no longer changes it
  updated_at timestamptz NOT NULL
);
CREATE INDEX upi_persons_upid_idx ON upi_persons (upid);

CREATE TABLE upi_blocks (
  block_key text NOT NULL,
  patient_id text NOT NULL,
  PRIMARY KEY (block_key, patient_id)
);
CREATE INDEX upi_blocks_patient_idx ON upi_blocks (patient_id);

CREATE TABLE upi_possible_matches (
  id text PRIMARY KEY,
  patient_id text NOT NULL,
  candidate_id text NOT NULL,
  score double precision NOT NULL,
  status text NOT NULL DEFAULT 'open',    -- open | confirmed | rejected
  created_at timestamptz NOT NULL,
  decided_at timestamptz
);
CREATE UNIQUE INDEX upi_possible_matches_pair_idx ON upi_possible_matches (LEAST(patient_id, candidate_id), GREATEST(patient_id, candidate_id));

CREATE TABLE upi_assignments (
  seq bigserial PRIMARY KEY,
  patient_id text NOT NULL,
  old_upid text,
  new_upid text NOT NULL,
  reason text NOT NULL,                    -- new | match | possible | unchanged-demographics
  score double precision,
  at timestamptz NOT NULL
);
CREATE INDEX upi_assignments_patient_idx ON upi_assignments (patient_id, seq);
