-- How long the task's last finished attempt ran, in seconds, as its executor measured it.
-- Executors use it to decide how much due-soon work they can claim ahead and still start on time:
-- a thousand one-millisecond tasks due on the same second, but not a dozen one-hour jobs.
ALTER TABLE cron ADD COLUMN last_duration DOUBLE NULL AFTER running;
