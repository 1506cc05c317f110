import Hummingbird
import HummingbirdAuth
import NIOCore
import SundialCore

/// Each request's context: the session, the identity it resolved to, the client's address.
public struct WebRequestContext: AuthRequestContext, SessionRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: ConsoleIdentity?
    public let sessions: SessionContext<ConsoleSession>
    /// The peer's IP address (a proxy's, behind one).
    public let clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        sessions = .init()
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The identity, or 401 when nobody signed in, or 403 when the role is below `role`.
    public func require(_ role: Role) throws -> ConsoleIdentity {
        guard let identity else { throw HTTPError(.unauthorized, message: "sign in first") }
        guard identity.allows(role) else {
            throw HTTPError(.forbidden, message: "your role (\(identity.role.rawValue)) may not do this")
        }
        return identity
    }

    /// An admin whose role is not limited to some tasks' tags: users, tokens and the audit log
    /// concern every task, so an admin of some tasks only may not touch them.
    public func requireUnlimitedAdmin() throws -> ConsoleIdentity {
        let identity = try require(.admin)
        guard identity.scope == .everything else {
            throw HTTPError(
                .forbidden, message: "your role is limited to some tasks: users, tokens and the audit log are not")
        }
        return identity
    }

    /// A masked CSRF token for forms in this response ("" without a session).
    public var csrfToken: String {
        sessions.session.map { CSRFToken.masked(secret: $0.csrfSecret) } ?? ""
    }
}
