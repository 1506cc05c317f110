-- Alerts: what a task asks to be told about, the alerts raised and their delivery, and what the
-- metrics and the `recovered` event need to know of a task's last outcome.

-- Alert channels this task's events go to (comma-separated names from the executors' alert
-- settings), besides the default ones; NULL: the defaults only.
ALTER TABLE cron ADD COLUMN alerts VARCHAR(255) NULL AFTER tags;
-- A fire not started this many seconds after its time raises `missed`; NULL: the default.
ALTER TABLE cron ADD COLUMN alert_late_seconds DOUBLE NULL AFTER alerts;
-- 1: the task has series of its own in /metrics (sundial_task_*{task="name"}). Indexed: executors
-- read the few tasks that ask every few seconds, whatever the table's size.
ALTER TABLE cron ADD COLUMN metrics TINYINT NOT NULL DEFAULT 0 AFTER alert_late_seconds;
ALTER TABLE cron ADD KEY cron_metrics (metrics);
-- 1 after a fire's last attempt failed, until a run succeeds (which raises `recovered`).
ALTER TABLE cron ADD COLUMN failing TINYINT NOT NULL DEFAULT 0 AFTER last_duration;
-- When a run of the task last succeeded (database time).
ALTER TABLE cron ADD COLUMN last_success_at DATETIME(6) NULL AFTER failing;

-- One alert for one channel. Executors claim pending ones (claim_token, claimed_until: the same
-- claim and fence as tasks) and deliver them at least once; a failed delivery waits until
-- next_attempt_at, with backoff, and is given up (status failed) after the channel's attempts.
CREATE TABLE IF NOT EXISTS alert (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  event ENUM('failed', 'dead', 'timed_out', 'missed', 'recovered', 'executor_dead', 'no_executor_for_action', 'test') NOT NULL,
  -- What it is about: task:<id>, executor:<id> or action:<name>. Deduplication is by event, subject and channel.
  subject VARCHAR(255) NOT NULL,
  cron_id BIGINT UNSIGNED NULL,
  task_name VARCHAR(191) NULL,
  -- The run it is about (cron_run's key), if any.
  scheduled_for DATETIME(6) NULL,
  attempt INT UNSIGNED NULL,
  -- Names compare byte for byte, as the settings file's do.
  channel VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  -- A readable sentence, and the error or reason behind it.
  summary TEXT NOT NULL,
  detail TEXT NULL,
  -- The executor that raised it.
  raised_by VARCHAR(191) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  status ENUM('pending', 'delivered', 'failed') NOT NULL DEFAULT 'pending',
  attempts INT UNSIGNED NOT NULL DEFAULT 0,
  next_attempt_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  claim_token BIGINT UNSIGNED NULL,
  claimed_by VARCHAR(191) NULL,
  claimed_until DATETIME(6) NULL,
  delivered_at DATETIME(6) NULL,
  error TEXT NULL,
  -- Each channel's pending alerts in the order they may be tried.
  KEY alert_pending (status, channel, next_attempt_at),
  KEY alert_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- When each (event, subject, channel) last raised an alert: a second one within the window is
-- dropped. A row lock makes the check and the write one step, whichever executors race.
CREATE TABLE IF NOT EXISTS alert_dedupe (
  event VARCHAR(32) COLLATE utf8mb4_bin NOT NULL,
  subject VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
  channel VARCHAR(64) COLLATE utf8mb4_bin NOT NULL,
  raised_at DATETIME(6) NOT NULL,
  PRIMARY KEY (event, subject, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
