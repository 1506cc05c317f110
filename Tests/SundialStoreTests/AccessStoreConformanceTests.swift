import Foundation
import SundialCore
import Synchronization
import Testing

/// Users, tokens, sessions and the audit log: the same rules for the in-memory store and MySQL.
@Suite(.serialized) struct AccessStoreConformanceTests {
    static var kinds: [StoreKind] { StoreConformanceTests.kinds }

    @Test(arguments: kinds) func usersHaveUniqueNamesAndEveryChangeIsKept(kind: StoreKind) throws {
        let s = try kind.make("access_users")
        let alice = try s.store.addUser(
            NewUser(name: "alice", role: .operator, scope: TaskScope(tags: ["billing", "etl"]), passwordHash: "h1"))
        #expect(alice.role == .operator && alice.scope.tags == ["billing", "etl"] && !alice.disabled)
        #expect(alice.timeZone == "UTC" && alice.sessionEpoch == 0 && alice.totpSecret == nil)
        #expect(throws: StoreError.self) {
            try s.store.addUser(NewUser(name: "alice", role: .viewer, passwordHash: "x"))
        }
        // Names compare byte for byte.
        let upper = try s.store.addUser(NewUser(name: "Alice", role: .viewer, passwordHash: "h2"))
        #expect(upper.id != alice.id)
        #expect(try s.store.user(named: "alice")?.id == alice.id)
        #expect(try s.store.user(named: "ALICE") == nil)

        var changed = alice
        (changed.role, changed.scope, changed.disabled) = (.admin, .everything, true)
        (changed.passwordHash, changed.totpSecret, changed.timeZone, changed.sessionEpoch) = (
            "h3", "SECRET", "Europe/Paris", 4
        )
        #expect(try s.store.updateUser(changed, from: alice))
        // A change made from an older reading is refused: it would undo the one above.
        var stale = alice
        stale.role = .viewer
        #expect(try !s.store.updateUser(stale, from: alice))
        // Writing the same values again still finds the user.
        #expect(try s.store.updateUser(changed, from: changed))
        let read = try #require(try s.store.user(id: alice.id))
        #expect(read.role == .admin && read.scope == .everything && read.disabled)
        #expect(read.passwordHash == "h3" && read.totpSecret == "SECRET" && read.timeZone == "Europe/Paris")
        #expect(read.sessionEpoch == 4)
        var ghost = changed
        ghost.id = 999_999
        #expect(try !s.store.updateUser(ghost, from: ghost))
        #expect(try s.store.users().map(\.name) == ["Alice", "alice"])
    }

    @Test(arguments: kinds) func tokensAreFoundByHashExpireAndAreRevokedOnce(kind: StoreKind) throws {
        let s = try kind.make("access_tokens")
        let owner = try s.store.addUser(NewUser(name: "ops", role: .operator, passwordHash: "h"))
        let token = try s.store.addToken(
            NewAPIToken(
                userID: owner.id, name: "deploys", role: .viewer, scope: .everything,
                secretHash: String(repeating: "a", count: 64),
                hint: "sdl_abcdef", lifetime: .seconds(90 * 86_400)))
        let now = try s.store.now()
        #expect(token.userName == "ops" && token.role == .viewer && token.hint == "sdl_abcdef")
        #expect(abs(token.expiresAt.timeIntervalSince(now) - 90 * 86_400) < 60)
        #expect(token.isUsable(at: now))
        #expect(try s.store.token(secretHash: String(repeating: "a", count: 64))?.id == token.id)
        #expect(try s.store.token(secretHash: String(repeating: "b", count: 64)) == nil)

        // A use is recorded once per period.
        #expect(try s.store.touchToken(id: token.id, coarseness: .seconds(3600)))
        #expect(try !s.store.touchToken(id: token.id, coarseness: .seconds(3600)))
        #expect(try s.store.tokens(userID: owner.id).first?.lastUsedAt != nil)

        #expect(try s.store.revokeToken(id: token.id))
        #expect(try !s.store.revokeToken(id: token.id))
        let revoked = try #require(try s.store.token(secretHash: String(repeating: "a", count: 64)))
        #expect(!revoked.isUsable(at: try s.store.now()))
        #expect(try s.store.tokens(userID: nil).map(\.id) == [token.id])
        #expect(try s.store.tokens(userID: owner.id + 1000).isEmpty)
    }

    @Test(arguments: kinds) func sessionsExpireAndKeepTheirExpiryWhenOnlyTheDataChanges(kind: StoreKind) throws {
        let s = try kind.make("access_sessions")
        try s.store.putSession(key: "k1", data: "{\"a\":1}", expiresIn: .seconds(2), defaultLifetime: .seconds(600))
        let first = try #require(try s.store.session(key: "k1"))
        #expect(first.data == "{\"a\":1}" && first.timeLeft <= .seconds(2) && first.timeLeft > .zero)
        // New data without an expiry keeps the old one.
        try s.store.putSession(key: "k1", data: "{\"a\":2}", expiresIn: nil, defaultLifetime: .seconds(600))
        #expect(try s.store.session(key: "k1")?.timeLeft ?? .zero <= .seconds(2))
        #expect(try s.store.session(key: "k1")?.data == "{\"a\":2}")
        // A session without an expiry gets the default.
        try s.store.putSession(key: "k2", data: "{}", expiresIn: nil, defaultLifetime: .seconds(600))
        #expect(try s.store.session(key: "k2")?.timeLeft ?? .zero > .seconds(500))
        try s.advance(seconds: 2.5)
        #expect(try s.store.session(key: "k1") == nil)
        #expect(try s.store.pruneSessions(limit: 10) == 1)
        #expect(try s.store.session(key: "k2") != nil)
        try s.store.removeSession(key: "k2")
        #expect(try s.store.session(key: "k2") == nil)
        #expect(try s.store.session(key: "never") == nil)
    }

    @Test(arguments: kinds) func theAuditLogPagesNewestFirstAndFiltersByValue(kind: StoreKind) throws {
        let s = try kind.make("access_audit")
        for i in 0..<5 {
            try s.store.audit(
                AuditDraft(actor: "mallory", action: .loginFailed, subject: "alice", address: "10.0.0.\(i % 2)"))
        }
        try s.store.audit(
            AuditDraft(actor: "alice", action: .taskPause, subject: "nightly", detail: "d", address: "10.0.0.9"))
        try s.store.audit(AuditDraft(actor: "bob", action: .loginFailed, subject: "bob", address: "10.0.0.0"))
        let all = try s.store.auditLog(AuditFilter(), before: nil, limit: 100)
        #expect(all.count == 7)
        #expect(all.map(\.id) == all.map(\.id).sorted(by: >))
        #expect(
            all[1].draft
                == AuditDraft(actor: "alice", action: .taskPause, subject: "nightly", detail: "d", address: "10.0.0.9"))
        let page = try s.store.auditLog(AuditFilter(), before: all[2].id, limit: 2)
        #expect(page.map(\.id) == [all[3].id, all[4].id])
        #expect(try s.store.auditLog(AuditFilter(actor: "alice"), before: nil, limit: 10).count == 1)
        #expect(
            try s.store.auditLog(AuditFilter(action: .loginFailed, subject: "bob"), before: nil, limit: 10).count == 1)
        // Filters are values, never SQL.
        #expect(try s.store.auditLog(AuditFilter(actor: "' OR 1=1 -- "), before: nil, limit: 10).isEmpty)

    }

    @Test(arguments: kinds) func loginTriesAreCountedBeforeTheyAreCheckedAndSlowedAfterAFew(kind: StoreKind) throws {
        let s = try kind.make("access_throttle")
        var rule = LoginThrottleRule()
        (rule.freeFailures, rule.firstWait, rule.window) = (3, .seconds(1), .seconds(60))
        for _ in 0..<3 {
            #expect(try s.store.beginLoginAttempt(keys: ["name:a", "address:x"], throttle: rule) == .zero)
        }
        // The fourth waits, by name or by address.
        #expect(try s.store.beginLoginAttempt(keys: ["name:a"], throttle: rule) > .zero)
        #expect(try s.store.beginLoginAttempt(keys: ["name:b", "address:x"], throttle: rule) > .zero)
        // A refused try counted nothing: name b is still free.
        #expect(try s.store.beginLoginAttempt(keys: ["name:b"], throttle: rule) == .zero)
        // A success clears the name, not the address.
        try s.store.loginSucceeded(key: "name:a")
        #expect(try s.store.beginLoginAttempt(keys: ["name:a"], throttle: rule) == .zero)
        #expect(try s.store.beginLoginAttempt(keys: ["address:x"], throttle: rule) > .zero)
        // After the wait, one more try; then twice as long.
        try s.advance(seconds: 1.2)
        #expect(try s.store.beginLoginAttempt(keys: ["address:x"], throttle: rule) == .zero)
        let second = try s.store.beginLoginAttempt(keys: ["address:x"], throttle: rule)
        #expect(second > .seconds(1) && second <= .seconds(2))
    }

    /// Many threads trying one name at once: exactly the free tries get through.
    @Test(arguments: kinds) func parallelTriesCannotAllSlipThrough(kind: StoreKind) throws {
        let s = try kind.make("access_throttle_race")
        let rule = LoginThrottleRule()
        let store = s.store
        for round in 0..<10 {
            let allowed = Mutex(0)
            let failures = Mutex<[String]>([])
            // Threads of the test's own: the store blocks.
            DispatchQueue.concurrentPerform(iterations: 16) { _ in
                do {
                    if try store.beginLoginAttempt(keys: ["name:r\(round)", "address:a\(round)"], throttle: rule)
                        == .zero
                    {
                        allowed.withLock { $0 += 1 }
                    }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            #expect(failures.withLock { $0 }.isEmpty)
            #expect(allowed.withLock { $0 } == rule.freeFailures, "round \(round)")
        }
    }
}
