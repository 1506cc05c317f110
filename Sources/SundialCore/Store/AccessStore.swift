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
    /// Writes role, scope, disabled, password hash, second factor, time zone and session epoch,
    /// if the user is still as `old` (as read before the change): two admins changing one user
    /// at once never undo each other's change. False when the user changed meanwhile or is gone:
    /// read again and decide again.
    func updateUser(_ user: ConsoleUser, from old: ConsoleUser) throws(StoreError) -> Bool

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
    /// Deletes at most `limit` expired sessions, and sign-in counts untouched for a day; returns
    /// how many sessions.
    func pruneSessions(limit: Int) throws(StoreError) -> Int

    /// Appends to the audit log.
    func audit(_ entry: AuditDraft) throws(StoreError)
    /// Audit lines matching `filter`, newest first, older than the id `before` (keyset paging).
    func auditLog(_ filter: AuditFilter, before: Int64?, limit: Int) throws(StoreError) -> [AuditEntry]
    /// Asks to check a password for these keys (a user name, an address) under `throttle`, in
    /// one step per key, so that parallel tries cannot all slip through: when every key allows
    /// a try now, each counts one failure in advance (cleared by `loginSucceeded`) and the answer
    /// is zero; otherwise nothing is counted and the answer is how long to wait.
    func beginLoginAttempt(keys: [String], throttle: LoginThrottleRule) throws(StoreError) -> Duration

    /// Clears the failures counted against `key` (a user name that just signed in).
    func loginSucceeded(key: String) throws(StoreError)
}

/// How failed logins slow down further tries: after `freeFailures` within `window`, each try
/// must wait twice as long as the last (from `firstWait` up to `longestWait`) after the last one.
public struct LoginThrottleRule: Sendable, Equatable {
    public var freeFailures = 5
    public var window: Duration = .seconds(900)
    public var firstWait: Duration = .seconds(1)
    public var longestWait: Duration = .seconds(300)

    public init() {}

    /// How long from `now` until a try is allowed, after `failures` failures, the last at `last`.
    public func wait(failures: Int, last: Date?, now: Date) -> Duration {
        guard failures >= freeFailures, let last else { return .zero }
        let doublings = min(failures - freeFailures, 20)
        let wait = min(firstWait.timeInterval * pow(2, Double(doublings)), longestWait.timeInterval)
        let left = last.addingTimeInterval(wait).timeIntervalSince(now)
        return left > 0 ? .milliseconds(Int64((left * 1000).rounded(.up))) : .zero
    }

    /// Failures older than the window no longer count.
    public func counts(failures: Int, last: Date?, now: Date) -> Int {
        guard let last, now.timeIntervalSince(last) < window.timeInterval else { return 0 }
        return failures
    }
}
