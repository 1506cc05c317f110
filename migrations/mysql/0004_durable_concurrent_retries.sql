-- A concurrent run (max_concurrency > 1) whose fire must run again (a failed attempt with
-- attempts left, or a lost one under at_least_once) says when in retry_at. Any executor takes it;
-- taking it (retry_at back to NULL) and starting the next attempt are one transaction, so the
-- retry survives any executor's crash or stop and runs once.
ALTER TABLE cron_run ADD COLUMN retry_at DATETIME(6) NULL AFTER kill_requested_at;
ALTER TABLE cron_run ADD KEY cron_run_retry (retry_at);
