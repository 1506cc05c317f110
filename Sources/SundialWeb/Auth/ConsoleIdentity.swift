import SundialCore

/// Who a request comes from: a signed-in user, or an API token acting with its own role.
public struct ConsoleIdentity: Sendable, Equatable {
    public enum Credential: Sendable, Equatable {
        case session
        case token(id: Int64)
    }

    public var userID: Int64
    public var userName: String
    public var role: Role
    public var scope: TaskScope
    public var credential: Credential
    /// The viewer's time zone for the pages.
    public var timeZone: String

    public init(
        userID: Int64, userName: String, role: Role, scope: TaskScope, credential: Credential, timeZone: String = "UTC"
    ) {
        (self.userID, self.userName, self.role, self.scope) = (userID, userName, role, scope)
        (self.credential, self.timeZone) = (credential, timeZone)
    }

    /// The name the audit log records: the user's, or `token:<id>` (with the user's name) for a token.
    public var actor: String {
        switch credential {
        case .session: userName
        case .token(let id): "token:\(id) (\(userName))"
        }
    }

    public func allows(_ needed: Role) -> Bool { role >= needed }
}
