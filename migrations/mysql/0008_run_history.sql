-- Every task's runs, newest first, by status, executor, task or start time, fast at millions of
-- runs (the console's run pages, the API, `sundial run list`).
ALTER TABLE cron_run ADD KEY cron_run_status_id (status, id);
ALTER TABLE cron_run ADD KEY cron_run_executor_id (executor, id);
ALTER TABLE cron_run ADD KEY cron_run_task_id (cron_id, id);
ALTER TABLE cron_run ADD KEY cron_run_started (started_at);
