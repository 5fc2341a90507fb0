-- Retention (`serve --retain`) and erasure delete a record's outbox entries by record: an index for that
-- (the outbox was only ever read by due time and by subscription).
CREATE INDEX notifications_by_record ON notifications (tenant, record_id);
