import Foundation
import Hummingbird
import HummingbirdAuth
import Logging
import SundialCore

/// Resolves who is asking: an `Authorization: Bearer sdl_…` token (the only place a token is
/// accepted), or else the session's signed-in user. A disabled user, a session older than the
/// user's last password change, an expired or revoked token: nobody.
struct IdentityMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let store: any SundialStore
    let threads: BlockingThreads
    /// How often a token's use is written (`last_used_at`, and a line in the audit log).
    static let useRecordPeriod: Duration = .seconds(3600)

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let authorization = request.headers[.authorization] {
            // A bearer header that does not check out is refused, never ignored in favour of a
            // cookie: a script using a bad token should hear so.
            context.identity = try await token(authorization, context: context)
        } else if let session = context.sessions.session, let userID = session.userID, !session.awaitingSecondFactor {
            let store = store
            if let user = try await threads.run({ try store.user(id: userID) }), !user.disabled,
                user.sessionEpoch == session.epoch
            {
                context.identity = ConsoleIdentity(
                    userID: user.id, userName: user.name, role: user.role, scope: user.scope, credential: .session,
                    timeZone: user.timeZone)
            } else {
                context.sessions.clearSession()
            }
        }
        return try await next(request, context)
    }

    private func token(_ authorization: String, context: Context) async throws -> ConsoleIdentity {
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw HTTPError(.unauthorized, message: "the Authorization header takes `Bearer sdl_…`")
        }
        let secret = parts[1].trimmingCharacters(in: .whitespaces)
        guard Secrets.looksLikeAPIToken(secret) else {
            throw HTTPError(.unauthorized, message: "not a Sundial API token")
        }
        let hash = Secrets.sha256Hex(secret)
        let store = store
        let found: (APIToken, ConsoleUser?, Date, Bool)? = try await threads.run {
            guard let token = try store.token(secretHash: hash) else { return nil }
            let now = try store.now()
            let user = try store.user(id: token.userID)
            let usable = token.isUsable(at: now) && user.map { !$0.disabled } == true
            // A use is recorded once an hour: most requests need not write at all (the store's
            // conditional write keeps two racing requests from both recording it).
            let recordedLately = token.lastUsedAt.map { now.timeIntervalSince($0) < Self.useRecordPeriod.timeInterval }
            if usable, recordedLately != true, try store.touchToken(id: token.id, coarseness: Self.useRecordPeriod) {
                try store.audit(
                    AuditDraft(actor: "token:\(token.id) (\(token.userName))", action: .tokenUse, subject: token.name))
            }
            return (token, user, now, usable)
        }
        guard let (token, user, _, usable) = found, let user, usable,
            Secrets.constantTimeEqual(Array(token.secretHash.utf8), Array(hash.utf8))
        else {
            // Never the token itself: its hint (the first characters, as listings show it) at most.
            context.logger.notice(
                "API token refused: unknown, expired or revoked",
                metadata: [
                    "hint": LogText.quoted(secret.prefix(10) + "…"),
                    "address": LogText.quoted(context.clientAddress ?? "-"),
                ])
            throw HTTPError(.unauthorized, message: "the API token is unknown, expired or revoked")
        }
        // A token never does more than its maker may do now.
        return ConsoleIdentity(
            userID: user.id, userName: user.name, role: min(token.role, user.role),
            scope: user.scope.covers(token.scope) ? token.scope : user.scope, credential: .token(id: token.id),
            timeZone: user.timeZone)
    }
}
