-- Failed sign-ins per user name and per address (`name:…`, `address:…`), counted before the
-- password is checked, under the row's lock: parallel tries cannot all slip through.
CREATE TABLE IF NOT EXISTS login_throttle (
  throttle_key VARCHAR(191) COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  failures INT UNSIGNED NOT NULL,
  last_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
