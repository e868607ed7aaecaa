-- Intelligent refresh (issue 8): the durable refresh schedule. One row per (builder, patient, reason key), so a
-- trigger never starts twice; workers claim due rows with FOR UPDATE SKIP LOCKED and create the patient-history
-- job in the same transaction.
CREATE TABLE subscription_refreshes (
  id text PRIMARY KEY,
  builder_id text NOT NULL,
  patient_id text NOT NULL,
  -- why: enrollment | appointment:<id> | discharge-24h:<id> | discharge-week:<id> | refill:<id> | pharmacy-backstop:<n> | recurring:<n>
  reason_key text NOT NULL,
  kind text NOT NULL,                        -- the trigger kind (the reason key's prefix)
  providers text[] NOT NULL,                 -- package provider codes to refresh (commonwell, surescripts, quest)
  due_at timestamptz NOT NULL,
  priority boolean NOT NULL DEFAULT false,
  status text NOT NULL CHECK (status IN ('pending', 'started', 'cancelled', 'skipped')),
  job_id text,                               -- the patient-history job it started
  detail jsonb NOT NULL DEFAULT '{}'::jsonb, -- trigger facts (appointment start, expected refill date, …) and skip notes
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  UNIQUE (builder_id, patient_id, reason_key)
);
CREATE INDEX subscription_refreshes_due ON subscription_refreshes (due_at) WHERE status = 'pending';
CREATE INDEX subscription_refreshes_priority ON subscription_refreshes (builder_id, due_at) WHERE priority;

-- The practitioner as a Practitioner resource of the builder (resolved at enrollment), used by refresh jobs.
ALTER TABLE subscription_enrollments ADD COLUMN practitioner_id text;
CREATE INDEX subscription_enrollments_any_patient_idx ON subscription_enrollments (patient_id);

-- Default packages (PackageMeta of the notes §3); operators add more with POST /zap-data-subscriptions/packages.
INSERT INTO subscription_packages (id, name, description, meta, created_at) VALUES
  ('monitoring', 'Monitoring',
   'Full monitoring (formerly ZAP Pro): initial EHR-network and pharmacy history, intelligent refresh, EHR-network refresh every 28 days, and ADT, lab and pharmacy alerts.',
   '{"initialProviders":["commonwell","surescripts"],"freshmakerProviders":["commonwell","surescripts"],"recurringProvidersWithInterval":[{"intervalDays":28,"provider":"commonwell"}],"subscriptionProviders":["bamboo","collective","quest","surescripts"]}'::jsonb,
   '2026-01-01T00:00:00Z'),
  ('lite', 'Lite',
   'Light monitoring (formerly ZAP Lite): initial EHR-network history, intelligent refresh from EHR networks and an EHR-network refresh every 60 days; no push feeds.',
   '{"initialProviders":["commonwell"],"freshmakerProviders":["commonwell"],"recurringProvidersWithInterval":[{"intervalDays":60,"provider":"commonwell"}],"subscriptionProviders":[]}'::jsonb,
   '2026-01-01T00:00:00Z')
ON CONFLICT (id) DO NOTHING;
