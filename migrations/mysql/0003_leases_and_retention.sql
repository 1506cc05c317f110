-- Leases on the executor's own row, computed by the database; the actions each executor runs;
-- concurrent runs marked so that their count in cron.running is kept exactly; indexes so that
-- background work reads no more than it returns.

-- When the executor's lease ends (NOW(6) + its lease at each renewal). Recovery trusts this,
-- not the recovering executor's own lease setting, nor the state column.
ALTER TABLE cron_executor ADD COLUMN lease_expires_at DATETIME(6) NULL AFTER heartbeat;
UPDATE cron_executor SET lease_expires_at = heartbeat + INTERVAL 10 SECOND;
ALTER TABLE cron_executor MODIFY lease_expires_at DATETIME(6) NOT NULL;
-- Comma-separated actions the executor can run (it claims only those).
ALTER TABLE cron_executor ADD COLUMN actions TEXT NULL AFTER tags;
ALTER TABLE cron_executor DROP KEY cron_executor_heartbeat;
ALTER TABLE cron_executor ADD KEY cron_executor_lease (state, lease_expires_at);

-- 1 for a run of a max_concurrency > 1 task, counted in cron.running until it ends.
ALTER TABLE cron_run ADD COLUMN concurrent TINYINT NOT NULL DEFAULT 0 AFTER task_id;

-- Rows waiting for their first next_run: only active, free ones (done one-shots and invalid
-- rows are not read again and again).
ALTER TABLE cron DROP KEY cron_unscheduled;
ALTER TABLE cron ADD KEY cron_unscheduled (status, next_run, task_id);
