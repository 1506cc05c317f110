import Foundation
import Hummingbird
import SundialCore

/// Signing in and out: the login form, the password check (slowed down after failures, per
/// name and per address), the optional one-time code, and a new session id at each login.
struct SessionController {
    let services: WebServices

    struct LoginPage {
        var layout: Layout
        var name: String?
        var next: String
        var awaitingCode: Bool
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("login") { request, context in try await showLogin(request, context) }
        router.post("login") { request, context in try await login(request, context) }
        router.post("login/code") { request, context in try await secondFactor(request, context) }
        router.post("logout") { request, context in try await logout(request, context) }
    }

    /// The login form, with status 401 when it stands in for a page that needs a user.
    func loginPage(
        _ request: Request, _ context: WebRequestContext, problem: String? = nil, name: String? = nil,
        status: HTTPResponse.Status = .ok
    ) -> Response {
        if context.sessions.session == nil {
            context.sessions.createSession(.anonymous(), expiresIn: services.configuration.anonymousSessionLifetime)
        }
        var layout = Layout(title: "Sign in", section: "login", context: context)
        layout.problem = problem
        let next = Self.safeNext(request.queryFields["next"] ?? request.uri.description)
        let awaiting = context.sessions.session?.awaitingSecondFactor ?? false
        return services.templates.render(
            "login", LoginPage(layout: layout, name: name, next: next, awaitingCode: awaiting), status: status)
    }

    private func showLogin(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        if context.identity != nil { return .redirect(to: "/") }
        return loginPage(request, context)
    }

    private func login(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let form = try await FormFields.of(request)
        let name = form["name"] ?? ""
        let password = form["password"] ?? ""
        let next = Self.safeNext(form["next"] ?? "/")
        let address = context.clientAddress
        let throttle = services.throttle
        // Counted as a failure before the password is checked (and cleared if it is right), so
        // that parallel tries cannot all get past the count.
        let keys = ["name:" + name] + (address.map { ["address:" + $0] } ?? [])
        let wait = try await services.blocking { try $0.beginLoginAttempt(keys: keys, throttle: throttle) }
        if wait > .zero {
            let seconds = Int(wait.timeInterval.rounded(.up))
            var response = loginPage(
                request, context, problem: "Too many failed sign-ins: try again in \(seconds) s.", name: name,
                status: .tooManyRequests)
            response.headers[.retryAfter] = "\(seconds)"
            return response
        }
        let hasher = services.hasher
        let (user, known) = try await services.blocking { store -> (ConsoleUser?, Bool) in
            let user = try store.user(named: name)
            // Checked against a decoy hash when there is no such user, so that the time taken
            // does not tell which names exist.
            let good = hasher.verify(password, hash: user?.passwordHash ?? PasswordHasher.decoy)
            return (good && user?.disabled == false ? user : nil, user != nil)
        }
        guard let user else {
            // For fail2ban and the like: from where, and which user (a name that is no user's is
            // not logged: it may be a password typed into the wrong field).
            context.logger.notice(
                "sign-in refused: wrong name or password",
                metadata: [
                    "user": known ? LogText.quoted(name) : "(no such user)",
                    "address": LogText.quoted(address ?? "-"),
                ])
            await services.audit(AuditDraft(actor: "anonymous", action: .loginFailed, subject: name, address: address))
            return loginPage(
                request, context, problem: "The name or the password is wrong.", name: name, status: .unauthorized)
        }
        try await services.blocking { try $0.loginSucceeded(key: "name:" + name) }
        // A new session id at every login: a session id planted before it is worth nothing.
        let session = ConsoleSession(
            userID: user.id, epoch: user.sessionEpoch, csrfSecret: Secrets.base64URL(Secrets.randomBytes(32)),
            awaitingSecondFactor: user.totpSecret != nil)
        context.sessions.createSession(session, expiresIn: services.configuration.sessionLifetime)
        if user.totpSecret != nil {
            var codeContext = context
            codeContext.identity = nil
            return loginPage(request, codeContext, name: name)
        }
        context.logger.info(
            "signed in", metadata: ["user": LogText.quoted(user.name), "address": LogText.quoted(address ?? "-")])
        await services.audit(AuditDraft(actor: user.name, action: .login, subject: user.name, address: address))
        return .redirect(to: next, type: .normal)
    }

    private func secondFactor(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let form = try await FormFields.of(request)
        guard let session = context.sessions.session, session.awaitingSecondFactor, let userID = session.userID else {
            return .redirect(to: "/login", type: .normal)
        }
        let address = context.clientAddress
        let user = try await services.blocking { try $0.user(id: userID) }
        guard let user, !user.disabled, let secret = user.totpSecret else {
            context.sessions.clearSession()
            return .redirect(to: "/login", type: .normal)
        }
        guard SecondFactor.accepts(form["code"] ?? "", secret: secret) else {
            context.logger.notice(
                "sign-in refused: wrong one-time code",
                metadata: ["user": LogText.quoted(user.name), "address": LogText.quoted(address ?? "-")])
            await services.audit(
                AuditDraft(
                    actor: user.name, action: .loginFailed, subject: user.name, detail: "wrong one-time code",
                    address: address))
            context.sessions.clearSession()
            return loginPage(
                request, context, problem: "The one-time code is wrong: sign in again.", status: .unauthorized)
        }
        var signedIn = session
        signedIn.awaitingSecondFactor = false
        signedIn.csrfSecret = Secrets.base64URL(Secrets.randomBytes(32))
        context.sessions.createSession(signedIn, expiresIn: services.configuration.sessionLifetime)
        await services.audit(
            AuditDraft(
                actor: user.name, action: .login, subject: user.name, detail: "with a one-time code", address: address))
        return .redirect(to: Self.safeNext(form["next"] ?? "/"), type: .normal)
    }

    private func logout(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        if let identity = context.identity {
            await services.audit(AuditDraft(actor: identity.actor, action: .logout, address: context.clientAddress))
        }
        context.sessions.clearSession()
        return .redirect(to: "/login", type: .normal)
    }

    /// Only paths of this site: never an open redirect to elsewhere.
    static func safeNext(_ next: String) -> String {
        // Browsers drop tabs and newlines and read `\` as `/`: none of them, and no `//` start.
        guard next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/login"), !next.contains("\\"),
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F })
        else { return "/" }
        return next
    }
}
