-- What the console, the API and `sundial run list` read, by index at millions of runs.

-- Every task's runs, newest first, by status, executor, task or start time.
ALTER TABLE cron_run ADD KEY cron_run_status_id (status, id);
ALTER TABLE cron_run ADD KEY cron_run_executor_id (executor, id);
ALTER TABLE cron_run ADD KEY cron_run_task_id (cron_id, id);
-- By start time: the period filter, and the dashboard's start lags read from the index alone.
ALTER TABLE cron_run ADD KEY cron_run_started (started_at, attempt, scheduled_for);
-- The dashboard's runs by outcome per hour: counted from this index alone.
ALTER TABLE cron_run ADD KEY cron_run_finished (finished_at, status);
-- The task list by name within a status or an action (keyset pages, no sort).
ALTER TABLE cron ADD KEY cron_status_name (status, name);
ALTER TABLE cron ADD KEY cron_action_name (action, name);
-- The dashboard's current failures.
ALTER TABLE cron ADD KEY cron_failing (failing, name);
-- The executors, newest first.
ALTER TABLE cron_executor ADD KEY cron_executor_started (started_at);
