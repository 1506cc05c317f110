-- What a claim took, written by the claim under its token: the fire and attempt it runs and the
-- row's next_run. When its executor is lost before the attempt's start is on record, recovery
-- records that attempt (not one an edit made meanwhile), and an edit made since (a resume to
-- another fire, a new next_run) stands instead of the lost fire's retry. Read only while the row
-- carries the same claim token (an executor of an older version leaves them as they were).
ALTER TABLE cron ADD COLUMN claimed_token BIGINT UNSIGNED NULL;
ALTER TABLE cron ADD COLUMN claimed_fire DATETIME(6) NULL;
ALTER TABLE cron ADD COLUMN claimed_attempt INT UNSIGNED NULL;
ALTER TABLE cron ADD COLUMN claimed_next_run DATETIME(6) NULL;
