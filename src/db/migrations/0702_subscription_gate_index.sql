-- The write-path triggers first ask whether the writing builder has any pending / active enrollment at all
-- (once per transaction); this index answers that without scanning the builder's enrollments.
CREATE INDEX subscription_enrollments_builder_status_idx ON subscription_enrollments (builder_id, status);
