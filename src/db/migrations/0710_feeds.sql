-- Push feeds (issue 8): the durable inbox of received messages. Accepting a message = inserting its raw text
-- here (several concurrent messages per INSERT, one commit), then ACK; a worker processes rows with
-- SKIP LOCKED. (network, control_id) makes a re-sent message a duplicate (idempotent ACK, no second row).
CREATE TABLE feed_inbox (
  id bigserial PRIMARY KEY,
  network text NOT NULL,                     -- provider code: bamboo | collective | quest | surescripts
  kind text NOT NULL,                        -- hl7v2 | pharmacy
  control_id text NOT NULL,                  -- MSH-10, or the pharmacy notification's messageId
  message_type text NOT NULL DEFAULT '',     -- e.g. ADT^A01, ORU^R01, PMARefill
  transport text NOT NULL,                   -- mllp | https
  peer text,
  body text NOT NULL,                        -- raw message; emptied when dropped (not for an enrolled patient)
  received_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dropped', 'failed')),
  attempts int NOT NULL DEFAULT 0,
  locked_until timestamptz,
  processed_at timestamptz,
  reason text,                               -- why dropped / failed
  result jsonb,                              -- {patients: [{builderId, patientId}], written, unchanged}
  UNIQUE (network, control_id)
);
CREATE INDEX feed_inbox_pending_idx ON feed_inbox (id) WHERE status = 'pending';
CREATE INDEX feed_inbox_status_idx ON feed_inbox (network, status, received_at);
