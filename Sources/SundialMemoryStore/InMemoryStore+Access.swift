import Foundation
import SundialCore

extension InMemoryStore: AccessStore {
    struct AccessState {
        var users: [Int64: ConsoleUser] = [:]
        var tokens: [Int64: APIToken] = [:]
        var sessions: [String: (data: String, expiresAt: Date)] = [:]
        var audit: [AuditEntry] = []
        var throttle: [String: (failures: Int, last: Date?)] = [:]
        var nextID: Int64 = 1

        mutating func id() -> Int64 {
            defer { nextID += 1 }
            return nextID
        }
    }

    public func addUser(_ user: NewUser) throws(StoreError) -> ConsoleUser {
        try call(.access) { state, now throws(StoreError) in
            guard !state.access.users.values.contains(where: { $0.name == user.name }) else {
                throw StoreError(.invalid, "Duplicate entry '\(user.name)' for key 'console_user_name'")
            }
            let added = ConsoleUser(
                id: state.access.id(), name: user.name, role: user.role, scope: user.scope,
                passwordHash: user.passwordHash, createdAt: now)
            state.access.users[added.id] = added
            return added
        }
    }

    public func user(named name: String) throws(StoreError) -> ConsoleUser? {
        try call(.access) { state, _ in state.access.users.values.first { $0.name == name } }
    }

    public func user(id: Int64) throws(StoreError) -> ConsoleUser? {
        try call(.access) { state, _ in state.access.users[id] }
    }

    public func users() throws(StoreError) -> [ConsoleUser] {
        try call(.access) { state, _ in
            state.access.users.values.sorted { Array($0.name.utf8).lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    public func updateUser(_ user: ConsoleUser, from old: ConsoleUser) throws(StoreError) -> Bool {
        try call(.access) { state, _ in
            guard let current = state.access.users[user.id], current == old else { return false }
            var updated = user
            (updated.name, updated.createdAt) = (current.name, current.createdAt)
            state.access.users[user.id] = updated
            return true
        }
    }

    public func beginLoginAttempt(keys: [String], throttle: LoginThrottleRule) throws(StoreError) -> Duration {
        try call(.access) { state, now in
            let keys = Set(keys.map { StoredText.shortened($0, toBytes: 191) })
            var longest = Duration.zero
            for key in keys {
                let (failures, last) = state.access.throttle[key] ?? (0, nil)
                let counted = throttle.counts(failures: failures, last: last, now: now)
                longest = max(longest, throttle.wait(failures: counted, last: last, now: now))
            }
            guard longest == .zero else { return longest }
            for key in keys {
                let (failures, last) = state.access.throttle[key] ?? (0, nil)
                state.access.throttle[key] = (throttle.counts(failures: failures, last: last, now: now) + 1, now)
            }
            return .zero
        }
    }

    public func loginSucceeded(key: String) throws(StoreError) {
        try call(.access) { state, _ in state.access.throttle[StoredText.shortened(key, toBytes: 191)] = nil }
    }

    public func addToken(_ token: NewAPIToken) throws(StoreError) -> APIToken {
        try call(.access) { state, now in
            let added = APIToken(
                id: state.access.id(), userID: token.userID,
                userName: state.access.users[token.userID]?.name ?? "(deleted)", name: token.name, role: token.role,
                scope: token.scope, secretHash: token.secretHash, hint: token.hint, createdAt: now,
                expiresAt: now.addingTimeInterval(token.lifetime.timeInterval))
            state.access.tokens[added.id] = added
            return added
        }
    }

    public func token(secretHash: String) throws(StoreError) -> APIToken? {
        try call(.access) { state, _ in state.access.tokens.values.first { $0.secretHash == secretHash } }
    }

    public func tokens(userID: Int64?) throws(StoreError) -> [APIToken] {
        try call(.access) { state, _ in
            state.access.tokens.values.filter { userID == nil || $0.userID == userID }.sorted { $0.id > $1.id }
        }
    }

    public func revokeToken(id: Int64) throws(StoreError) -> Bool {
        try call(.access) { state, now in
            guard state.access.tokens[id]?.revokedAt == nil, state.access.tokens[id] != nil else { return false }
            state.access.tokens[id]?.revokedAt = now
            return true
        }
    }

    public func touchToken(id: Int64, coarseness: Duration) throws(StoreError) -> Bool {
        try call(.access) { state, now in
            guard let token = state.access.tokens[id] else { return false }
            if let last = token.lastUsedAt, last >= now.addingTimeInterval(-coarseness.timeInterval) { return false }
            state.access.tokens[id]?.lastUsedAt = now
            return true
        }
    }

    public func putSession(
        key: String, data: String, expiresIn: Duration?, defaultLifetime: Duration
    ) throws(StoreError) {
        try call(.access) { state, now in
            var expiresAt = now.addingTimeInterval((expiresIn ?? defaultLifetime).timeInterval)
            if expiresIn == nil, let live = state.access.sessions[key], live.expiresAt > now {
                expiresAt = live.expiresAt
            }
            state.access.sessions[key] = (data, expiresAt)
        }
    }

    public func session(key: String) throws(StoreError) -> (data: String, timeLeft: Duration)? {
        try call(.access) { state, now in
            guard let session = state.access.sessions[key], session.expiresAt > now else { return nil }
            return (session.data, .seconds(session.expiresAt.timeIntervalSince(now)))
        }
    }

    public func removeSession(key: String) throws(StoreError) {
        try call(.access) { state, _ in state.access.sessions[key] = nil }
    }

    public func pruneSessions(limit: Int) throws(StoreError) -> Int {
        try call(.access) { state, now in
            let expired = state.access.sessions.filter { $0.value.expiresAt < now }.sorted {
                $0.value.expiresAt < $1.value.expiresAt
            }.prefix(limit)
            for (key, _) in expired { state.access.sessions[key] = nil }
            state.access.throttle = state.access.throttle.filter {
                ($0.value.last ?? .distantPast) >= now.addingTimeInterval(-86_400)
            }
            return expired.count
        }
    }

    public func audit(_ entry: AuditDraft) throws(StoreError) {
        try call(.access) { state, now in
            var stored = entry
            stored.detail = entry.detail.map(StoredText.error)
            state.access.audit.append(AuditEntry(id: state.access.id(), at: now, draft: stored))
        }
    }

    public func auditLog(_ filter: AuditFilter, before: Int64?, limit: Int) throws(StoreError) -> [AuditEntry] {
        try call(.access) { state, _ in
            Array(
                state.access.audit.reversed().lazy.filter { entry in
                    (before.map { entry.id < $0 } ?? true)
                        && (filter.actor.map { entry.draft.actor == $0 } ?? true)
                        && (filter.action.map { entry.draft.action == $0 } ?? true)
                        && (filter.subject.map { entry.draft.subject == $0 } ?? true)
                }.prefix(max(0, limit)))
        }
    }

}
