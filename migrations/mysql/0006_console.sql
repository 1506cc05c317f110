-- The web console and the REST API: users, API tokens, sessions and the audit log.

-- People who sign in. Only bcrypt hashes of passwords; no user exists until one is added
-- (`sundial user add`): there are no default credentials.
CREATE TABLE IF NOT EXISTS console_user (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  -- Names compare byte for byte: `Admin` is not `admin`.
  name VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
  role ENUM('viewer', 'operator', 'admin') NOT NULL,
  -- Comma-separated: the role applies to tasks with one of these tags only; NULL: every task.
  scope_tags VARCHAR(255) NULL,
  disabled TINYINT NOT NULL DEFAULT 0,
  password_hash VARCHAR(255) NOT NULL,
  -- Base32 TOTP secret when the second factor is on.
  totp_secret VARCHAR(64) NULL,
  time_zone VARCHAR(64) NOT NULL DEFAULT 'UTC',
  -- Raised by a password change or a disable: sessions made before it end.
  session_epoch INT UNSIGNED NOT NULL DEFAULT 0,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY console_user_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- API tokens: only the SHA-256 of the secret is kept, and the first characters to tell them apart.
CREATE TABLE IF NOT EXISTS console_token (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(191) NOT NULL,
  role ENUM('viewer', 'operator', 'admin') NOT NULL,
  scope_tags VARCHAR(255) NULL,
  secret_sha256 CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  hint VARCHAR(16) NOT NULL,
  created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at DATETIME(6) NOT NULL,
  last_used_at DATETIME(6) NULL,
  revoked_at DATETIME(6) NULL,
  UNIQUE KEY console_token_secret (secret_sha256),
  KEY console_token_user (user_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Web sessions, shared by every web process. The key is a hash of the cookie's value.
CREATE TABLE IF NOT EXISTS console_session (
  session_key VARCHAR(191) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
  data TEXT NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY console_session_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who did what and when. Only ever inserted into; the console has no way to change it.
CREATE TABLE IF NOT EXISTS audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  actor VARCHAR(191) COLLATE utf8mb4_bin NOT NULL,
  action VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  subject VARCHAR(191) COLLATE utf8mb4_bin NULL,
  detail TEXT NULL,
  address VARCHAR(64) NULL,
  -- Failed logins by name and by address over the last minutes: the slowdown's reads.
  KEY audit_action_subject (action, subject, at),
  KEY audit_action_address (action, address, at),
  KEY audit_actor (actor, id),
  KEY audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
