import Foundation
import SundialCore
import SundialMySQL

/// Console users, API tokens, sessions and the audit log (`console_user`, `console_token`,
/// `console_session`, `audit_log`). Every read is from the primary: a session just made, a
/// token just revoked or a user just disabled must count at once on every web process.
extension MySQLStore: AccessStore {
    private static let userColumns =
        "id, name, role, scope_tags, disabled, password_hash, totp_secret, time_zone, session_epoch, created_at"
    private static let tokenColumns = """
        t.id, t.user_id, u.name AS user_name, t.name, t.role, t.scope_tags, t.secret_sha256, t.hint, \
        t.created_at, t.expires_at, t.last_used_at, t.revoked_at
        """

    public func addUser(_ user: NewUser) throws(StoreError) -> ConsoleUser {
        try mapped {
            let result = try database.execute(
                "INSERT INTO console_user (name, role, scope_tags, password_hash) VALUES (?, ?, ?, ?)",
                [.string(user.name), .string(user.role.rawValue), .init(user.scope.stored), .string(user.passwordHash)])
            guard let added = try oneUser("id = ?", [.int(Int64(result.lastInsertID))]) else {
                throw StoreError(.unavailable, "the user '\(user.name)' was added but could not be read back")
            }
            return added
        }
    }

    public func user(named name: String) throws(StoreError) -> ConsoleUser? {
        try mapped { try oneUser("name = ?", [.string(name)]) }
    }

    public func user(id: Int64) throws(StoreError) -> ConsoleUser? {
        try mapped { try oneUser("id = ?", [.int(id)]) }
    }

    public func users() throws(StoreError) -> [ConsoleUser] {
        try mapped {
            try database.query(
                "SELECT \(Self.userColumns) FROM console_user ORDER BY name LIMIT 10000", consistency: .primary
            ).map(Self.user)
        }
    }

    public func updateUser(_ user: ConsoleUser, from old: ConsoleUser) throws(StoreError) -> Bool {
        guard user != old else { return try self.user(id: user.id) == old }
        return try mapped {
            // Compared byte for byte (BINARY): a hash or a zone that differs in case is a change.
            try database.execute(
                """
                UPDATE console_user SET role = ?, scope_tags = ?, disabled = ?, password_hash = ?, totp_secret = ?, \
                time_zone = ?, session_epoch = ? WHERE id = ? AND role = ? AND BINARY scope_tags <=> BINARY ? \
                AND disabled = ? AND BINARY password_hash = BINARY ? AND BINARY totp_secret <=> BINARY ? \
                AND BINARY time_zone = BINARY ? AND session_epoch = ?
                """,
                Self.userValues(user) + [.int(user.id)] + Self.userValues(old)
            ).affectedRows == 1
        }
    }

    private static func userValues(_ user: ConsoleUser) -> [MySQLValue] {
        [
            .string(user.role.rawValue), .init(user.scope.stored), .bool(user.disabled), .string(user.passwordHash),
            .init(user.totpSecret), .string(user.timeZone), .int(Int64(user.sessionEpoch)),
        ]
    }

    private func oneUser(_ condition: String, _ parameters: [MySQLValue]) throws -> ConsoleUser? {
        try database.query(
            "SELECT \(Self.userColumns) FROM console_user WHERE \(condition)", parameters, consistency: .primary
        ).first.map(Self.user)
    }

    private static func user(_ row: MySQLRow) -> ConsoleUser {
        ConsoleUser(
            id: Int64(row["id"].int ?? 0), name: row["name"].string ?? "",
            role: Role(rawValue: row["role"].string ?? "") ?? .viewer,
            scope: TaskScope(stored: row["scope_tags"].string), disabled: row["disabled"].bool ?? true,
            passwordHash: row["password_hash"].string ?? "", totpSecret: row["totp_secret"].string,
            timeZone: row["time_zone"].string ?? "UTC", sessionEpoch: row["session_epoch"].int ?? 0,
            createdAt: row["created_at"].date ?? Date(timeIntervalSince1970: 0))
    }

    // MARK: Tokens

    public func addToken(_ token: NewAPIToken) throws(StoreError) -> APIToken {
        try mapped {
            let result = try database.execute(
                """
                INSERT INTO console_token (user_id, name, role, scope_tags, secret_sha256, hint, expires_at) \
                VALUES (?, ?, ?, ?, ?, ?, TIMESTAMPADD(MICROSECOND, ?, NOW(6)))
                """,
                [
                    .int(token.userID), .string(token.name), .string(token.role.rawValue), .init(token.scope.stored),
                    .string(token.secretHash), .string(token.hint), .int(Int64(token.lifetime.timeInterval * 1e6)),
                ])
            guard let added = try tokens("t.id = ?", [.int(Int64(result.lastInsertID))]).first else {
                throw StoreError(.unavailable, "the token was added but could not be read back")
            }
            return added
        }
    }

    public func token(secretHash: String) throws(StoreError) -> APIToken? {
        try mapped { try tokens("t.secret_sha256 = ?", [.string(secretHash)]).first }
    }

    public func tokens(userID: Int64?) throws(StoreError) -> [APIToken] {
        try mapped {
            if let userID { return try tokens("t.user_id = ?", [.int(userID)]) }
            return try tokens("1 = 1", [])
        }
    }

    public func revokeToken(id: Int64) throws(StoreError) -> Bool {
        try mapped {
            try database.execute(
                "UPDATE console_token SET revoked_at = NOW(6) WHERE id = ? AND revoked_at IS NULL", [.int(id)]
            ).affectedRows == 1
        }
    }

    public func touchToken(id: Int64, coarseness: Duration) throws(StoreError) -> Bool {
        try mapped {
            // Written only when the last use is older than the period: a busy token does not
            // write on every request.
            try database.execute(
                """
                UPDATE console_token SET last_used_at = NOW(6) WHERE id = ? AND \
                (last_used_at IS NULL OR last_used_at < TIMESTAMPADD(MICROSECOND, ?, NOW(6)))
                """, [.int(id), .int(-Int64(coarseness.timeInterval * 1e6))]
            ).affectedRows == 1
        }
    }

    private func tokens(_ condition: String, _ parameters: [MySQLValue]) throws -> [APIToken] {
        try database.query(
            """
            SELECT \(Self.tokenColumns) FROM console_token t LEFT JOIN console_user u ON u.id = t.user_id \
            WHERE \(condition) ORDER BY t.id DESC LIMIT 10000
            """, parameters, consistency: .primary
        ).map { row in
            APIToken(
                id: Int64(row["id"].int ?? 0), userID: Int64(row["user_id"].int ?? 0),
                userName: row["user_name"].string ?? "(deleted)", name: row["name"].string ?? "",
                role: Role(rawValue: row["role"].string ?? "") ?? .viewer,
                scope: TaskScope(stored: row["scope_tags"].string), secretHash: row["secret_sha256"].string ?? "",
                hint: row["hint"].string ?? "", createdAt: row["created_at"].date ?? Date(timeIntervalSince1970: 0),
                expiresAt: row["expires_at"].date ?? Date(timeIntervalSince1970: 0),
                lastUsedAt: row["last_used_at"].date, revokedAt: row["revoked_at"].date)
        }
    }

    // MARK: Sessions

    public func putSession(
        key: String, data: String, expiresIn: Duration?, defaultLifetime: Duration
    ) throws(StoreError) {
        let lifetime = Int64((expiresIn ?? defaultLifetime).timeInterval * 1e6)
        try mapped {
            if expiresIn == nil {
                // Keeps a live session's expiry; a missing or expired one starts afresh.
                try database.execute(
                    """
                    INSERT INTO console_session (session_key, data, expires_at) \
                    VALUES (?, ?, TIMESTAMPADD(MICROSECOND, ?, NOW(6))) ON DUPLICATE KEY UPDATE data = VALUES(data), \
                    expires_at = IF(expires_at > NOW(6), expires_at, VALUES(expires_at))
                    """, [.string(key), .string(data), .int(lifetime)])
            } else {
                try database.execute(
                    """
                    INSERT INTO console_session (session_key, data, expires_at) \
                    VALUES (?, ?, TIMESTAMPADD(MICROSECOND, ?, NOW(6))) \
                    ON DUPLICATE KEY UPDATE data = VALUES(data), expires_at = VALUES(expires_at)
                    """, [.string(key), .string(data), .int(lifetime)])
            }
        }
    }

    public func session(key: String) throws(StoreError) -> (data: String, timeLeft: Duration)? {
        try mapped {
            guard
                let row = try database.query(
                    """
                    SELECT data, TIMESTAMPDIFF(MICROSECOND, NOW(6), expires_at) AS left_us FROM console_session \
                    WHERE session_key = ? AND expires_at > NOW(6)
                    """, [.string(key)], consistency: .primary
                ).first, let data = row["data"].string
            else { return nil }
            return (data, .microseconds(row["left_us"].int ?? 0))
        }
    }

    public func removeSession(key: String) throws(StoreError) {
        try mapped { _ = try database.execute("DELETE FROM console_session WHERE session_key = ?", [.string(key)]) }
    }

    public func pruneSessions(limit: Int) throws(StoreError) -> Int {
        try mapped {
            _ = try database.execute(
                "DELETE FROM login_throttle WHERE last_at < NOW(6) - INTERVAL 1 DAY LIMIT ?", [.int(Int64(limit))])
            return try database.execute(
                "DELETE FROM console_session WHERE expires_at < NOW(6) ORDER BY expires_at LIMIT ?",
                [.int(Int64(limit))]
            ).affectedRows
        }
    }

    // MARK: Audit log

    public func audit(_ entry: AuditDraft) throws(StoreError) {
        try mapped {
            _ = try database.execute(
                "INSERT INTO audit_log (actor, action, subject, detail, address) VALUES (?, ?, ?, ?, ?)",
                [
                    .string(StoredText.shortened(entry.actor, toBytes: 191)), .string(entry.action.rawValue),
                    .init(entry.subject.map { StoredText.shortened($0, toBytes: 191) }),
                    .init(entry.detail.map { StoredText.error($0) }),
                    .init(entry.address.map { StoredText.shortened($0, toBytes: 64) }),
                ])
        }
    }

    public func auditLog(_ filter: AuditFilter, before: Int64?, limit: Int) throws(StoreError) -> [AuditEntry] {
        var conditions = ["1 = 1"]
        var parameters: [MySQLValue] = []
        if let before {
            conditions.append("id < ?")
            parameters.append(.int(before))
        }
        if let actor = filter.actor {
            conditions.append("actor = ?")
            parameters.append(.string(actor))
        }
        if let action = filter.action {
            conditions.append("action = ?")
            parameters.append(.string(action.rawValue))
        }
        if let subject = filter.subject {
            conditions.append("subject = ?")
            parameters.append(.string(subject))
        }
        parameters.append(.int(Int64(max(0, limit))))
        return try mapped {
            try database.query(
                """
                SELECT id, at, actor, action, subject, detail, address FROM audit_log \
                WHERE \(conditions.joined(separator: " AND ")) ORDER BY id DESC LIMIT ?
                """, parameters, consistency: .primary
            ).compactMap { row in
                guard let action = AuditAction(rawValue: row["action"].string ?? "") else { return nil }
                return AuditEntry(
                    id: Int64(row["id"].int ?? 0), at: row["at"].date ?? Date(timeIntervalSince1970: 0),
                    draft: AuditDraft(
                        actor: row["actor"].string ?? "", action: action, subject: row["subject"].string,
                        detail: row["detail"].string, address: row["address"].string))
            }
        }
    }

    public func beginLoginAttempt(keys: [String], throttle: LoginThrottleRule) throws(StoreError) -> Duration {
        let keys = Array(Set(keys.map { StoredText.shortened($0, toBytes: 191) })).sorted()
        return try mapped {
            // The rows exist before they are locked: locking a missing row takes a gap lock, and
            // two tries inserting into the same gap deadlock.
            for key in keys {
                try database.execute(
                    "INSERT IGNORE INTO login_throttle (throttle_key, failures, last_at) VALUES (?, 0, '1970-01-01')",
                    [.string(key)])
            }
            // Keys locked in one order: two tries never wait on each other in a cycle.
            return try database.transaction { c in
                let now = try databaseNow(c)
                var longest = Duration.zero
                var counts: [String: Int] = [:]
                for key in keys {
                    let row = try c.query(
                        "SELECT failures, last_at FROM login_throttle WHERE throttle_key = ? FOR UPDATE", [.string(key)]
                    ).first
                    let last = row?["last_at"].date
                    let failures = throttle.counts(failures: row?["failures"].int ?? 0, last: last, now: now)
                    counts[key] = failures
                    longest = max(longest, throttle.wait(failures: failures, last: last, now: now))
                }
                guard longest == .zero else { return longest }
                for key in keys {
                    try c.execute(
                        "UPDATE login_throttle SET failures = ?, last_at = ? WHERE throttle_key = ?",
                        [.int(Int64((counts[key] ?? 0) + 1)), .date(now), .string(key)])
                }
                return .zero
            }
        }
    }

    public func loginSucceeded(key: String) throws(StoreError) {
        try mapped {
            _ = try database.execute(
                "DELETE FROM login_throttle WHERE throttle_key = ?", [.string(StoredText.shortened(key, toBytes: 191))])
        }
    }

}
