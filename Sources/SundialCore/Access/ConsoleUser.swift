import Foundation

/// A person who signs in to the console. Passwords are stored as bcrypt hashes only.
public struct ConsoleUser: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var role: Role
    /// The tasks the role applies to.
    public var scope: TaskScope
    /// A disabled user cannot sign in, and their sessions and tokens stop working at once.
    public var disabled: Bool
    public var passwordHash: String
    /// The TOTP key when a second factor is on (random ASCII: its bytes are the key; an
    /// authenticator app is given them base32-encoded).
    public var totpSecret: String?
    /// IANA zone the console shows times in.
    public var timeZone: String
    /// Raised by every password change and disable: sessions opened before it end.
    public var sessionEpoch: Int
    public var createdAt: Date

    public init(
        id: Int64, name: String, role: Role, scope: TaskScope = .everything, disabled: Bool = false,
        passwordHash: String, totpSecret: String? = nil, timeZone: String = "UTC", sessionEpoch: Int = 0,
        createdAt: Date = Date(timeIntervalSince1970: 0)
    ) {
        (self.id, self.name, self.role, self.scope, self.disabled) = (id, name, role, scope, disabled)
        (self.passwordHash, self.totpSecret, self.timeZone) = (passwordHash, totpSecret, timeZone)
        (self.sessionEpoch, self.createdAt) = (sessionEpoch, createdAt)
    }
}

/// A user to add.
public struct NewUser: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var scope: TaskScope
    public var passwordHash: String

    public init(name: String, role: Role, scope: TaskScope = .everything, passwordHash: String) {
        (self.name, self.role, self.scope, self.passwordHash) = (name, role, scope, passwordHash)
    }
}
