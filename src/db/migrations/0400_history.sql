-- Patient-history jobs (spec/002) and one row per (job, network provider).
CREATE TABLE patient_history_jobs (
  id text PRIMARY KEY,
  builder_id text NOT NULL,
  patient_id text NOT NULL,
  practitioner_id text NOT NULL,
  practitioner jsonb NOT NULL,               -- {npi, name, role} as requested
  request_consent boolean NOT NULL,
  chart_build_type text NOT NULL,
  priority boolean NOT NULL DEFAULT false,
  target_date timestamptz,
  run_at timestamptz NOT NULL,
  status text NOT NULL,                      -- initialize | in_progress | done | error (derived from providers)
  reason text,                               -- why the job ran (API request, or a refresh trigger)
  created_at timestamptz NOT NULL,
  last_updated_at timestamptz NOT NULL
);
CREATE INDEX patient_history_jobs_builder_idx ON patient_history_jobs (builder_id, created_at DESC, id DESC);
CREATE INDEX patient_history_jobs_patient_idx ON patient_history_jobs (builder_id, patient_id, created_at DESC);

CREATE TABLE patient_history_providers (
  job_id text NOT NULL REFERENCES patient_history_jobs(id) ON DELETE CASCADE,
  service text NOT NULL,                     -- commonwell | carequality | surescripts
  status text NOT NULL,                      -- initialize | in_progress | done | error
  counts jsonb NOT NULL DEFAULT '{}'::jsonb, -- documents listed/retrieved/not found/failed, resources written/skipped
  errors jsonb NOT NULL DEFAULT '[]'::jsonb,
  started_at timestamptz,
  finished_at timestamptz,
  PRIMARY KEY (job_id, service)
);
