-- Who started a run: a run now names who asked (a console user, an API token, the command line)
-- for the fire it set; the runs of that fire (retries too) carry the name. Other fires are the
-- schedule's.
ALTER TABLE cron ADD COLUMN requested_by VARCHAR(191) NULL;
ALTER TABLE cron ADD COLUMN requested_fire DATETIME(6) NULL;
ALTER TABLE cron_run ADD COLUMN requested_by VARCHAR(191) NULL;
-- The task list sorted by next run: active tasks by next run, then each status by name (keyset
-- pages, no sort). By last result reads cron_failing; each status by name, cron_status_name.
ALTER TABLE cron ADD KEY cron_status_next_run (status, next_run, name);
