import Foundation
import SundialCore
import SundialExecutor

/// Adding users, changing passwords and roles, making and revoking API tokens: shared by the
/// console and `sundial user`, with the same checks, each change written to the audit log.
/// Blocking (bcrypt and the store): call it from threads you own.
public struct UserAdmin: Sendable {
    public let store: any AccessStore
    public let hasher: PasswordHasher

    public init(store: any AccessStore, hasher: PasswordHasher = PasswordHasher()) {
        (self.store, self.hasher) = (store, hasher)
    }

    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
        /// The same kinds as the task admin's: a wrong value, nothing by that name, a clash.
        public let reason: TaskAdmin.AdminError.Reason
        init(_ description: String, reason: TaskAdmin.AdminError.Reason = .invalid) {
            (self.description, self.reason) = (description, reason)
        }
    }

    /// Adds a user with a password (checked: 12 characters or more).
    @discardableResult
    public func add(
        name: String, role: Role, scope: TaskScope = .everything, password: String, by actor: String,
        address: String? = nil
    ) throws -> ConsoleUser {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ !$0.isWhitespace && !$0.isNewline }),
            !name.hasPrefix("token:")
        else {
            throw Refusal("a user name has 1 to 64 characters, no spaces, and does not start with 'token:'")
        }
        do { try PasswordHasher.check(password) } catch { throw Refusal(error.description) }
        let user: ConsoleUser
        let failure: StoreError
        do {
            user = try store.addUser(
                NewUser(name: name, role: role, scope: scope, passwordHash: hasher.hash(password)))
        } catch {
            failure = error
            if failure.kind == .invalid { throw Refusal("a user named '\(name)' already exists", reason: .conflict) }
            throw failure
        }
        try store.audit(
            AuditDraft(
                actor: actor, action: .userCreate, subject: name,
                detail: "role \(role.rawValue)" + (scope.stored.map { ", tags \($0)" } ?? ""), address: address))
        return user
    }

    /// Sets a new password; every session of the user ends.
    public func setPassword(name: String, password: String, by actor: String, address: String? = nil) throws {
        do { try PasswordHasher.check(password) } catch { throw Refusal(error.description) }
        let hash = hasher.hash(password)
        try change(name) { user in
            user.passwordHash = hash
            user.sessionEpoch += 1
            return ["password"]
        }
        try store.audit(AuditDraft(actor: actor, action: .userPassword, subject: name, address: address))
    }

    /// Applies `edit` to the user as stored now, and writes it only if nobody changed the user in
    /// between (else reads again and applies it again). `edit` says what it changed.
    @discardableResult
    func change(_ name: String, _ edit: (inout ConsoleUser) throws -> [String]) throws -> [String] {
        for _ in 0..<5 {
            let old = try named(name)
            var user = old
            let changes = try edit(&user)
            if changes.isEmpty { return [] }
            if try store.updateUser(user, from: old) { return changes }
        }
        throw Refusal("user '\(name)' keeps changing under this request: try again", reason: .conflict)
    }

    /// Changes role, scope or whether the user may sign in; disabling ends their sessions (their
    /// tokens stop working too: a token acts for a user who is not disabled).
    ///
    /// `self` names the user making the change when it is a person or their token: nobody
    /// disables or demotes themselves (the last admin would lock everyone out; another admin can).
    public func update(
        name: String, role: Role? = nil, scope: TaskScope? = nil, disabled: Bool? = nil, timeZone: String? = nil,
        by actor: String, self acting: String? = nil, address: String? = nil
    ) throws {
        if let timeZone, TimeZone(identifier: timeZone) == nil { throw Refusal("unknown time zone '\(timeZone)'") }
        if name == acting, disabled == true || role.map({ $0 < (try? named(name))?.role ?? $0 }) == true {
            throw Refusal("you cannot disable or demote yourself: another admin can", reason: .conflict)
        }
        let changes = try change(name) { user in
            var changes: [String] = []
            if let role, role != user.role {
                changes.append("role \(user.role.rawValue) → \(role.rawValue)")
                user.role = role
            }
            if let scope, scope != user.scope {
                changes.append("tags \(user.scope.stored ?? "(all)") → \(scope.stored ?? "(all)")")
                user.scope = scope
            }
            if let disabled, disabled != user.disabled {
                changes.append(disabled ? "disabled" : "enabled")
                user.disabled = disabled
                if disabled { user.sessionEpoch += 1 }
            }
            if let timeZone, timeZone != user.timeZone {
                changes.append("time zone \(timeZone)")
                user.timeZone = timeZone
            }
            return changes
        }
        guard !changes.isEmpty else { return }
        try store.audit(
            AuditDraft(
                actor: actor, action: .userUpdate, subject: name, detail: changes.joined(separator: "; "),
                address: address))
    }

    /// Makes a token for `owner`, with a role no higher than the owner's and a scope within
    /// theirs. Returns the secret: the only time it exists outside its holder's hands.
    public func makeToken(
        owner: ConsoleUser, name: String, role: Role, lifetime: Duration, by actor: String, address: String? = nil
    ) throws -> (token: APIToken, secret: String) {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 100 else {
            throw Refusal("a token needs a name of 1 to 100 characters (what it is for)")
        }
        guard role <= owner.role else {
            throw Refusal("a token's role cannot be above its owner's (\(owner.role.rawValue))")
        }
        guard lifetime > .zero, lifetime <= .seconds(3 * 365 * 86_400) else {
            throw Refusal("a token lives from 1 day to 3 years")
        }
        let (secret, hash, hint) = Secrets.newAPIToken()
        let token = try store.addToken(
            NewAPIToken(
                userID: owner.id, name: name, role: role, scope: owner.scope, secretHash: hash, hint: hint,
                lifetime: lifetime))
        try store.audit(
            AuditDraft(
                actor: actor, action: .tokenCreate, subject: "token:\(token.id)",
                detail: "'\(name)' for \(owner.name), role \(role.rawValue), expires \(token.expiresAt)",
                address: address))
        return (token, secret)
    }

    public func revokeToken(id: Int64, by actor: String, address: String? = nil) throws {
        guard try store.revokeToken(id: id) else {
            throw Refusal("token \(id) does not exist or is already revoked", reason: .notFound)
        }
        try store.audit(AuditDraft(actor: actor, action: .tokenRevoke, subject: "token:\(id)", address: address))
    }

    /// Turns the user's second factor on with `secret` (the code from their app proves they
    /// hold it), or off (nil). Signing in asks for a code from then on, or no longer does.
    public func setSecondFactor(
        name: String, secret: String?, code: String? = nil, by actor: String, address: String? = nil
    ) throws {
        if let secret {
            guard (16...64).contains(secret.count), secret.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            else { throw Refusal("a second factor's key has 16 to 64 letters and digits") }
            guard SecondFactor.accepts(code ?? "", secret: secret) else {
                throw Refusal("the code does not match the key: check the app's clock and type the newest code")
            }
        }
        let changes = try change(name) { user in
            if secret != nil, user.totpSecret != nil {
                throw Refusal("the second factor is on already: turn it off first", reason: .conflict)
            }
            guard (user.totpSecret == nil) != (secret == nil) else { return [] }
            user.totpSecret = secret
            return [secret == nil ? "second factor off" : "second factor on"]
        }
        guard !changes.isEmpty else { return }
        try store.audit(
            AuditDraft(actor: actor, action: .userUpdate, subject: name, detail: changes[0], address: address))
    }

    /// Whether `password` is the user's (for changes people make to their own account).
    public func verifyPassword(name: String, password: String) throws -> Bool {
        hasher.verify(password, hash: try named(name).passwordHash)
    }

    public func named(_ name: String) throws -> ConsoleUser {
        guard let user = try store.user(named: name) else {
            throw Refusal("no user named '\(name)'", reason: .notFound)
        }
        return user
    }
}
