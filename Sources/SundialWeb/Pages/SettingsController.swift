import Foundation
import Hummingbird
import SundialCore

/// The signed-in user's own settings: the time zone the console shows times in, their password,
/// and the second factor (a TOTP key kept in the session while it is set up, shown once to be
/// added to an authenticator app, turned on by the password and a code from the app; turned off
/// by the password and a code). Password checks here count against the sign-in slowdown, so a
/// session left open is no way to guess the password. Sessions only: an API token has no
/// settings page.
struct SettingsController {
    let services: WebServices

    struct Page {
        var layout: Layout
        var zones: [TasksController.Choice]
        var secondFactor: Bool
        /// While turning the second factor on: the new key, as an address and as typed.
        var enrolment: Enrolment?
    }

    struct Enrolment {
        var url: String
        var typed: String
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("settings") { request, context in try await show(request, context) }
        router.post("settings/:verb") { request, context in try await change(request, context) }
    }

    private func signedIn(_ context: WebRequestContext) throws -> ConsoleIdentity {
        let identity = try context.require(.viewer)
        guard identity.credential == .session else {
            throw HTTPError(.forbidden, message: "settings belong to a signed-in user, not to an API token")
        }
        return identity
    }

    private func show(
        _ request: Request, _ context: WebRequestContext, problem: String? = nil,
        status: HTTPResponse.Status = .unprocessableContent
    ) async throws -> Response {
        let identity = try signedIn(context)
        let userID = identity.userID
        let user = try await services.blocking { try $0.user(id: userID) }
        guard let user else { throw HTTPError(.unauthorized, message: "sign in first") }
        var layout = Layout(title: "Your settings", section: "settings", context: context, request: request)
        if let problem { layout.problem = problem }
        let zones = ["UTC"] + TimeZone.knownTimeZoneIdentifiers.filter { $0 != "UTC" }.sorted()
        let pending = user.totpSecret == nil ? context.sessions.session?.pendingSecondFactor : nil
        let page = Page(
            layout: layout, zones: zones.map { .init(value: $0, selected: $0 == user.timeZone) },
            secondFactor: user.totpSecret != nil,
            enrolment: pending.map {
                Enrolment(
                    url: SecondFactor.authenticatorURL(secret: $0, user: user.name),
                    typed: SecondFactor.typedKey(secret: $0, user: user.name))
            })
        return services.templates.render("settings", page, status: problem == nil ? .ok : status)
    }

    private func change(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try signedIn(context)
        let form = try await FormFields.of(request)
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        let (name, address) = (identity.userName, context.clientAddress)
        let verb = context.parameters.get("verb") ?? ""
        guard var session = context.sessions.session else { throw HTTPError(.unauthorized, message: "sign in first") }
        if verb == "second-factor-start" {
            session.pendingSecondFactor = SecondFactor.newSecret()
            _ = context.sessions.updateSession(session)
            return try await show(request, context)
        }
        // Every check of the current password goes through the sign-in slowdown for the name.
        let throttle = services.throttle
        let key = "name:" + name
        if form["current"] != nil {
            let wait = try await services.blocking { try $0.beginLoginAttempt(keys: [key], throttle: throttle) }
            if wait > .zero {
                var response = try await show(
                    request, context,
                    problem: "Too many wrong passwords: try again in \(Int(wait.timeInterval.rounded(.up))) s.",
                    status: .tooManyRequests)
                response.headers[.retryAfter] = "\(Int(wait.timeInterval.rounded(.up)))"
                return response
            }
        }
        let pending = session.pendingSecondFactor
        let outcome: Result<String, UserAdmin.Refusal> = try await services.threads.run {
            do {
                if let current = form["current"] {
                    guard try users.verifyPassword(name: name, password: current) else {
                        throw UserAdmin.Refusal("the current password is wrong")
                    }
                    try users.store.loginSucceeded(key: key)
                }
                switch verb {
                case "timezone":
                    try users.update(name: name, timeZone: form["timezone"] ?? "", by: name, address: address)
                    return .success("times are now shown in \(form["timezone"] ?? "")")
                case "password" where form["current"] != nil:
                    guard form["new"] == form["repeat"] else { throw UserAdmin.Refusal("the new passwords differ") }
                    try users.setPassword(name: name, password: form["new"] ?? "", by: name, address: address)
                    return .success("password changed: sign in again")
                case "second-factor-on" where form["current"] != nil:
                    guard let pending else { throw UserAdmin.Refusal("set up a new key first") }
                    try users.setSecondFactor(
                        name: name, secret: pending, code: form["code"], by: name, address: address)
                    return .success("second factor on: signing in now asks for a code")
                case "second-factor-off" where form["current"] != nil:
                    guard let secret = try users.named(name).totpSecret else {
                        throw UserAdmin.Refusal("the second factor is off already", reason: .conflict)
                    }
                    guard SecondFactor.accepts(form["code"] ?? "", secret: secret) else {
                        throw UserAdmin.Refusal("the code is wrong")
                    }
                    try users.setSecondFactor(name: name, secret: nil, by: name, address: address)
                    return .success("second factor off")
                case "password", "second-factor-on", "second-factor-off":
                    throw UserAdmin.Refusal("type your current password")
                default:
                    throw UserAdmin.Refusal("unknown setting '\(verb)'", reason: .notFound)
                }
            } catch let refusal as UserAdmin.Refusal {
                return .failure(refusal)
            }
        }
        switch outcome {
        case .success(let notice):
            if verb == "second-factor-on" {
                session.pendingSecondFactor = nil
                _ = context.sessions.updateSession(session)
            }
            return .redirect(to: "/settings?" + TasksController.queryString([("notice", notice)]), type: .normal)
        case .failure(let refusal):
            // A wrong code keeps the same key on the page: no need to add a new one to the app.
            return try await show(
                request, context, problem: refusal.description,
                status: refusal.reason == .notFound
                    ? .notFound : refusal.reason == .conflict ? .conflict : .unprocessableContent)
        }
    }
}
