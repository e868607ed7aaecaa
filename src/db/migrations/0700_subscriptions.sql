-- Subscriptions (issue 8, spec/001): packages, one enrollment per builder Patient, and the durable refresh
-- schedule. Owned by src/subscriptions; src/feeds reads enrollments + packages to route pushed data.
CREATE TABLE subscription_packages (
  id text PRIMARY KEY,
  name text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- PackageMeta of the notes §3: {initialProviders, freshmakerProviders, recurringProvidersWithInterval, subscriptionProviders}
  meta jsonb NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE subscription_enrollments (
  builder_id text NOT NULL,
  patient_id text NOT NULL,                  -- the builder's own Patient id (not the UPID)
  package_id text NOT NULL REFERENCES subscription_packages(id),
  status text NOT NULL CHECK (status IN ('pending', 'active', 'inactive')),
  practitioner jsonb NOT NULL,               -- {npi, name, role}
  priority boolean NOT NULL DEFAULT false,
  validation_issues jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (builder_id, patient_id)       -- one package per patient at a time
);
CREATE INDEX subscription_enrollments_patient_idx ON subscription_enrollments (patient_id) WHERE status = 'active';
