import HummingbirdBcrypt

/// Passwords as bcrypt hashes (cost 12 or more). Slow by design: call it off the event loops.
public struct PasswordHasher: Sendable {
    public var cost: UInt8

    public init(cost: UInt8 = 12) {
        self.cost = max(12, cost)
    }

    /// Refuses passwords too short to resist guessing, in words for the user.
    public static func check(_ password: String) throws(PasswordError) {
        guard password.count >= 12 else { throw PasswordError("a password needs at least 12 characters") }
        // bcrypt reads 72 bytes at most: a longer password's end would count for nothing.
        guard password.utf8.count <= 72 else { throw PasswordError("a password may have 72 bytes at most") }
    }

    public func hash(_ password: String) -> String { Bcrypt.hash(password, cost: cost) }

    public func verify(_ password: String, hash: String) -> Bool {
        guard !hash.isEmpty, password.utf8.count <= 72 else { return false }
        return Bcrypt.verify(password, hash: hash)
    }

    /// A hash to check against when the user does not exist, so that the answer takes as long.
    public static let decoy = Bcrypt.hash(Secrets.base64URL(Secrets.randomBytes(16)), cost: 12)
}

/// A password that cannot be used.
public struct PasswordError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
