import Foundation

/// Console users, API tokens, web sessions and the audit log. Blocking, like every store: call it
/// from threads you own.
public protocol AccessStore: Sendable {
    /// Adds a user; throws `invalid` when the name is taken.
    func addUser(_ user: NewUser) throws(StoreError) -> ConsoleUser
    func user(named name: String) throws(StoreError) -> ConsoleUser?
    func user(id: Int64) throws(StoreError) -> ConsoleUser?
    /// Every user, by name.
    func users() throws(StoreError) -> [ConsoleUser]
    /// Writes role, scope, disabled, password hash, second factor, time zone and session epoch.
    /// False when the user does not exist.
    func updateUser(_ user: ConsoleUser) throws(StoreError) -> Bool

    /// Stores a token; its expiry is `lifetime` from the store's clock.
    func addToken(_ token: NewAPIToken) throws(StoreError) -> APIToken
    /// The token whose secret hashes to `secretHash`, usable or not.
    func token(secretHash: String) throws(StoreError) -> APIToken?
    /// Tokens of one user, or of everyone, newest first.
    func tokens(userID: Int64?) throws(StoreError) -> [APIToken]
    /// Revokes a token; false when it was already revoked or does not exist.
    func revokeToken(id: Int64) throws(StoreError) -> Bool
    /// Records a use; true when the last recorded use was more than `coarseness` ago (or never),
    /// so that callers log a use to the audit log once per period, not once per request.
    func touchToken(id: Int64, coarseness: Duration) throws(StoreError) -> Bool

    /// Creates or replaces a session's data. `expiresIn` nil keeps the current expiry (a new
    /// session without one gets `defaultLifetime`).
    func putSession(key: String, data: String, expiresIn: Duration?, defaultLifetime: Duration) throws(StoreError)
    /// A live session's data and time left, or nil when it does not exist or has expired.
    func session(key: String) throws(StoreError) -> (data: String, timeLeft: Duration)?
    func removeSession(key: String) throws(StoreError)
    /// Deletes at most `limit` expired sessions; returns how many.
    func pruneSessions(limit: Int) throws(StoreError) -> Int

    /// Appends to the audit log.
    func audit(_ entry: AuditDraft) throws(StoreError)
    /// Audit lines matching `filter`, newest first, older than the id `before` (keyset paging).
    func auditLog(_ filter: AuditFilter, before: Int64?, limit: Int) throws(StoreError) -> [AuditEntry]
    /// Failed logins within `window` for a user name or an address (one of them), and when the
    /// last one was, with the store's clock now.
    func failedLogins(name: String?, address: String?, within window: Duration) throws(StoreError) -> FailedLogins
}

/// Recent failed logins, for slowing down guessing.
public struct FailedLogins: Sendable, Equatable {
    public var count: Int
    public var last: Date?
    public var now: Date

    public init(count: Int, last: Date?, now: Date) {
        (self.count, self.last, self.now) = (count, last, now)
    }
}
