import Foundation

/// A bearer token for the REST API. Only the SHA-256 of its secret is stored; the secret is shown
/// once, when it is made.
public struct APIToken: Sendable, Equatable {
    public var id: Int64
    public var userID: Int64
    /// The user who made it, for listings and the audit log.
    public var userName: String
    /// What it is for, in its maker's words.
    public var name: String
    /// Never above its maker's role.
    public var role: Role
    public var scope: TaskScope
    /// Hex SHA-256 of the whole secret (`sdl_…`).
    public var secretHash: String
    /// The first characters of the secret, to tell tokens apart in listings.
    public var hint: String
    public var createdAt: Date
    public var expiresAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?

    public init(
        id: Int64, userID: Int64, userName: String, name: String, role: Role, scope: TaskScope, secretHash: String,
        hint: String, createdAt: Date, expiresAt: Date, lastUsedAt: Date? = nil, revokedAt: Date? = nil
    ) {
        (self.id, self.userID, self.userName, self.name, self.role, self.scope) = (
            id, userID, userName, name, role, scope
        )
        (self.secretHash, self.hint, self.createdAt, self.expiresAt) = (secretHash, hint, createdAt, expiresAt)
        (self.lastUsedAt, self.revokedAt) = (lastUsedAt, revokedAt)
    }

    /// Whether the token may be used at `now` (the store's clock).
    public func isUsable(at now: Date) -> Bool { revokedAt == nil && expiresAt > now }
}

/// A token to store.
public struct NewAPIToken: Sendable, Equatable {
    public var userID: Int64
    public var name: String
    public var role: Role
    public var scope: TaskScope
    public var secretHash: String
    public var hint: String
    /// How long it lives from now (the store's clock).
    public var lifetime: Duration

    public init(
        userID: Int64, name: String, role: Role, scope: TaskScope, secretHash: String, hint: String,
        lifetime: Duration
    ) {
        (self.userID, self.name, self.role, self.scope) = (userID, name, role, scope)
        (self.secretHash, self.hint, self.lifetime) = (secretHash, hint, lifetime)
    }
}
