import Foundation
import Hummingbird
import SundialCore

/// The signed-in user's own settings: the time zone the console shows times in, their password,
/// and the second factor (a TOTP key added to an authenticator app, proved by a code before it
/// is turned on; turned off with the password and a code). Sessions only: an API token has no
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
        var secret: String
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
        _ request: Request, _ context: WebRequestContext, enrolment: Enrolment? = nil,
        problem: String? = nil
    ) async throws -> Response {
        let identity = try signedIn(context)
        let userID = identity.userID
        let user = try await services.blocking { try $0.user(id: userID) }
        guard let user else { throw HTTPError(.unauthorized, message: "sign in first") }
        var layout = Layout(title: "Your settings", section: "settings", context: context, request: request)
        if let problem { layout.problem = problem }
        let zones = ["UTC"] + TimeZone.knownTimeZoneIdentifiers.filter { $0 != "UTC" }.sorted()
        let page = Page(
            layout: layout, zones: zones.map { .init(value: $0, selected: $0 == user.timeZone) },
            secondFactor: user.totpSecret != nil, enrolment: enrolment)
        return services.templates.render("settings", page, status: problem == nil ? .ok : .unprocessableContent)
    }

    private func change(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try signedIn(context)
        let form = try await FormFields.of(request)
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        let (name, address) = (identity.userName, context.clientAddress)
        let verb = context.parameters.get("verb") ?? ""
        if verb == "second-factor-start" {
            let secret = SecondFactor.newSecret()
            return try await show(
                request, context,
                enrolment: Enrolment(
                    secret: secret, url: SecondFactor.authenticatorURL(secret: secret, user: name),
                    typed: SecondFactor.typedKey(secret: secret, user: name)))
        }
        let outcome: Result<String, UserAdmin.Refusal> = try await services.threads.run {
            do {
                switch verb {
                case "timezone":
                    try users.update(name: name, timeZone: form["timezone"] ?? "", by: name, address: address)
                    return .success("times are now shown in \(form["timezone"] ?? "")")
                case "password":
                    guard try users.verifyPassword(name: name, password: form["current"] ?? "") else {
                        throw UserAdmin.Refusal("the current password is wrong")
                    }
                    guard form["new"] == form["repeat"] else { throw UserAdmin.Refusal("the new passwords differ") }
                    try users.setPassword(name: name, password: form["new"] ?? "", by: name, address: address)
                    return .success("password changed: sign in again")
                case "second-factor-on":
                    try users.setSecondFactor(
                        name: name, secret: form["secret"] ?? "", code: form["code"], by: name, address: address)
                    return .success("second factor on: signing in now asks for a code")
                case "second-factor-off":
                    let user = try users.named(name)
                    guard try users.verifyPassword(name: name, password: form["current"] ?? ""),
                        let secret = user.totpSecret, SecondFactor.accepts(form["code"] ?? "", secret: secret)
                    else {
                        throw UserAdmin.Refusal("the password or the code is wrong")
                    }
                    try users.setSecondFactor(name: name, secret: nil, by: name, address: address)
                    return .success("second factor off")
                default:
                    throw UserAdmin.Refusal("unknown setting '\(verb)'", reason: .notFound)
                }
            } catch let refusal as UserAdmin.Refusal {
                return .failure(refusal)
            }
        }
        switch outcome {
        case .success(let notice):
            return .redirect(to: "/settings?" + TasksController.queryString([("notice", notice)]), type: .normal)
        case .failure(let refusal) where verb == "second-factor-on" && refusal.reason == .invalid:
            // The same key again, so that a mistyped code does not mean adding a new key.
            let secret = form["secret"] ?? ""
            return try await show(
                request, context,
                enrolment: Enrolment(
                    secret: secret, url: SecondFactor.authenticatorURL(secret: secret, user: name),
                    typed: SecondFactor.typedKey(secret: secret, user: name)),
                problem: refusal.description)
        case .failure(let refusal):
            return try await show(request, context, problem: refusal.description)
        }
    }
}
