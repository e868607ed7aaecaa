-- Durable jobs on the same database (src/queue): enqueued inside the caller's transaction, claimed with
-- FOR UPDATE SKIP LOCKED under a lease, retried after a delay, moved to 'dead' after max_failures.
CREATE TABLE queue_jobs (
  id text PRIMARY KEY,
  queue text NOT NULL,
  -- jobs of one group can be paused together and listed together (webhooks: the hook id)
  group_key text,
  -- at most one job per (queue, dedupe_key): enqueueing the same work twice is a no-op
  dedupe_key text,
  payload jsonb NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
  -- when a pending job is due; while claimed, the end of the claim's lease
  run_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  failures integer NOT NULL DEFAULT 0,
  max_failures integer NOT NULL,
  retry_delay_ms bigint NOT NULL,
  last_error text,
  last_code integer,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  finished_at timestamptz,
  UNIQUE (queue, dedupe_key)
);
CREATE INDEX queue_jobs_due ON queue_jobs (queue, run_at) WHERE status = 'pending';
CREATE INDEX queue_jobs_group ON queue_jobs (queue, group_key, created_at);
CREATE INDEX queue_jobs_finished ON queue_jobs (queue, status, finished_at) WHERE status <> 'pending';

-- One row per finished attempt (success or failure), for delivery logs and latency metrics.
CREATE TABLE queue_job_attempts (
  job_id text NOT NULL REFERENCES queue_jobs(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  latency_ms integer,
  ok boolean NOT NULL,
  -- handler-reported outcome code (webhooks: the HTTP status)
  code integer,
  error text,
  PRIMARY KEY (job_id, attempt)
);

CREATE TABLE queue_paused_groups (
  queue text NOT NULL,
  group_key text NOT NULL,
  paused_at timestamptz NOT NULL,
  PRIMARY KEY (queue, group_key)
);
