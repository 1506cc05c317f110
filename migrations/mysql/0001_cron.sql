-- The task table users write to, the run history, and the executors' registry.
-- All times are UTC DATETIME(6) written with the database's clock (NOW(6)).

CREATE TABLE IF NOT EXISTS cron (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(191) NOT NULL,
  -- shell, http, noop, sleep, fail, or a handler registered from Swift.
  action VARCHAR(64) NOT NULL,
  -- JSON object of the action's settings; NULL means {}.
  payload TEXT NULL,
  -- cron expression, @daily, @every 90s, @at <RFC 3339>; NULL: run once.
  schedule VARCHAR(1024) NULL,
  timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
  -- When the pending fire is due; NULL: an executor computes it (now, for a one-shot).
  next_run DATETIME(6) NULL,
  -- The scheduled time of the pending fire (differs from next_run while a retry waits).
  fire_at DATETIME(6) NULL,
  -- Attempts already made at the pending fire.
  attempt INT UNSIGNED NOT NULL DEFAULT 0,
  -- The claim token: NULL when the row is free. Every write after a run is fenced by it.
  task_id BIGINT UNSIGNED NULL,
  claimed_by VARCHAR(191) NULL,
  claimed_at DATETIME(6) NULL,
  -- Runs of this task in flight (for max_concurrency above 1).
  running INT UNSIGNED NOT NULL DEFAULT 0,
  status ENUM('active', 'paused', 'done', 'invalid', 'dead') NOT NULL DEFAULT 'active',
  error TEXT NULL,
  max_attempts INT UNSIGNED NOT NULL DEFAULT 1,
  -- Retry n waits backoff_seconds * 2^(n-1), capped at backoff_max_seconds, with jitter.
  backoff_seconds DOUBLE NOT NULL DEFAULT 10,
  backoff_max_seconds DOUBLE NOT NULL DEFAULT 3600,
  -- Kills the run (its whole process group) after this long; NULL: no limit.
  timeout_seconds DOUBLE NULL DEFAULT 3600,
  max_concurrency INT UNSIGNED NOT NULL DEFAULT 1,
  misfire_policy ENUM('run_once', 'skip', 'run_all') NOT NULL DEFAULT 'run_once',
  -- run_all catches up at most this many missed fires.
  misfire_limit INT UNSIGNED NOT NULL DEFAULT 100,
  delivery ENUM('at_least_once', 'at_most_once') NOT NULL DEFAULT 'at_least_once',
  -- Comma-separated tags (host=web1,gpu); NULL: any executor. An executor with any of them may run it.
  tags VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  UNIQUE KEY cron_name (name),
  -- The claim: free rows of one status in next_run order. Reading back by token uses it too, and so
  -- does recovery (the claimed rows, task_id IS NOT NULL, are few: the work in flight).
  KEY cron_claim (task_id, status, next_run),
  -- Rows with a schedule but no next_run yet, for the heartbeat to schedule.
  KEY cron_unscheduled (next_run, schedule(8))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS cron_run (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  cron_id BIGINT UNSIGNED NOT NULL,
  scheduled_for DATETIME(6) NOT NULL,
  attempt INT UNSIGNED NOT NULL,
  executor VARCHAR(191) NOT NULL,
  -- The claim token the run was started under.
  task_id BIGINT UNSIGNED NOT NULL,
  started_at DATETIME(6) NOT NULL,
  finished_at DATETIME(6) NULL,
  status ENUM('running', 'succeeded', 'failed', 'timed_out', 'killed', 'lost') NOT NULL,
  exit_code INT NULL,
  output MEDIUMTEXT NULL,
  error TEXT NULL,
  -- Set by `sundial task kill` (or the API); the executor running it kills it within a heartbeat.
  kill_requested_at DATETIME(6) NULL,
  -- A task's history, newest last; ids grow with time, so retention deletes by id.
  UNIQUE KEY cron_run_fire (cron_id, scheduled_for, attempt),
  -- Running runs per executor: kill requests and recovery.
  KEY cron_run_status (status, executor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS cron_executor (
  id VARCHAR(191) NOT NULL PRIMARY KEY,
  host VARCHAR(255) NOT NULL,
  pid INT NOT NULL,
  threads INT NOT NULL,
  busy INT NOT NULL DEFAULT 0,
  tags VARCHAR(255) NULL,
  started_at DATETIME(6) NOT NULL,
  heartbeat DATETIME(6) NOT NULL,
  state ENUM('running', 'stopping', 'stopped', 'dead') NOT NULL DEFAULT 'running',
  KEY cron_executor_heartbeat (state, heartbeat)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
