import Foundation
import Hummingbird
import SundialCore

/// Users and API tokens, for admins: add, change role, disable, reset a password; make tokens
/// (the secret is shown once) and revoke them.
struct UsersController {
    let services: WebServices

    struct UserLine {
        var name: String
        var role: String
        var tags: String?
        var disabled: Bool
        var secondFactor: Bool
        var roles: [TasksController.Choice]
    }

    struct TokenLine {
        var id: Int64
        var name: String
        var owner: String
        var role: String
        var hint: String
        var created: TimeText
        var expires: TimeText
        var lastUsed: TimeText?
        var state: String
        var revocable: Bool
    }

    struct Page {
        var layout: Layout
        var users: [UserLine]
        var tokens: [TokenLine]
        var roles: [String]
        /// A secret just made or reset, shown this once.
        var secret: String?
        var secretLabel: String?
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("users") { request, context in try await list(request, context) }
        router.post("users/:verb") { request, context in try await act(request, context) }
    }

    private func list(
        _ request: Request, _ context: WebRequestContext, secret: (label: String, value: String)? = nil
    ) async throws -> Response {
        let identity = try context.requireUnlimitedAdmin()
        let (users, tokens, now) = try await services.blocking { store in
            (try store.users(), try store.tokens(userID: nil), try store.now())
        }
        let zone = identity.timeZone
        let page = Page(
            layout: Layout(title: "Users and tokens", section: "users", context: context, request: request),
            users: users.map { u in
                UserLine(
                    name: u.name, role: u.role.rawValue, tags: u.scope.stored, disabled: u.disabled,
                    secondFactor: u.totpSecret != nil,
                    roles: Role.allCases.map { .init(value: $0.rawValue, selected: $0 == u.role) })
            },
            tokens: tokens.map { t in
                TokenLine(
                    id: t.id, name: t.name, owner: t.userName, role: t.role.rawValue, hint: t.hint + "…",
                    created: TimeText(t.createdAt, now: now, zone: zone),
                    expires: TimeText(t.expiresAt, now: now, zone: zone),
                    lastUsed: t.lastUsedAt.map { TimeText($0, now: now, zone: zone) },
                    state: t.revokedAt != nil ? "revoked" : t.expiresAt <= now ? "expired" : "active",
                    revocable: t.revokedAt == nil)
            },
            roles: Role.allCases.map(\.rawValue), secret: secret?.value, secretLabel: secret?.label)
        return services.templates.render("users", page)
    }

    private func act(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.requireUnlimitedAdmin()
        let form = try await FormFields.of(request)
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        let (actor, address) = (identity.actor, context.clientAddress)
        let defaultDays = Int(services.configuration.tokenLifetime.timeInterval / 86_400)
        let lifetimeDays = form.text("days").map { Int($0) ?? 0 } ?? defaultDays
        let verb = context.parameters.get("verb") ?? ""
        let result: Result<(String, String)?, UserAdmin.Refusal> = try await services.threads.run {
            do {
                switch verb {
                case "add":
                    let password = Secrets.newPassword()
                    let role = Role(rawValue: form["role"] ?? "") ?? .viewer
                    try users.add(
                        name: form.text("name") ?? "", role: role, scope: TaskScope(stored: form["tags"]),
                        password: password, by: actor, address: address)
                    return .success(("Password of \(form.text("name") ?? "")", password))
                case "update":
                    try users.update(
                        name: form["name"] ?? "", role: form["role"].flatMap(Role.init(rawValue:)),
                        disabled: form["disabled"].map { $0 == "1" }, by: actor, self: identity.userName,
                        address: address)
                case "password":
                    let password = Secrets.newPassword()
                    try users.setPassword(name: form["name"] ?? "", password: password, by: actor, address: address)
                    return .success(("New password of \(form["name"] ?? "")", password))
                case "token":
                    let owner = try users.named(form["owner"] ?? "")
                    let made = try users.makeToken(
                        owner: owner, name: form["name"] ?? "", role: Role(rawValue: form["role"] ?? "") ?? .viewer,
                        lifetime: .seconds((0...1095).clamped(lifetimeDays) * 86_400), by: actor, address: address)
                    return .success(("API token '\(made.token.name)' (shown once: copy it now)", made.secret))
                case "second-factor-off":
                    // For a user who lost their phone: they sign in with the password alone again.
                    try users.setSecondFactor(name: form["name"] ?? "", secret: nil, by: actor, address: address)
                case "revoke":
                    try users.revokeToken(id: Int64(form["id"] ?? "") ?? 0, by: actor, address: address)
                default:
                    throw UserAdmin.Refusal("unknown action '\(verb)'")
                }
                return .success(nil)
            } catch let refusal as UserAdmin.Refusal {
                return .failure(refusal)
            }
        }
        switch result {
        case .success(let secret?):
            // Rendered, not redirected: the secret never goes into a URL or a log line.
            return try await list(request, context, secret: (secret.0, secret.1))
        case .success(nil):
            return .redirect(to: "/users?notice=done", type: .normal)
        case .failure(let refusal):
            return .redirect(
                to: "/users?" + TasksController.queryString([("problem", refusal.description)]), type: .normal)
        }
    }
}

extension ClosedRange<Int> {
    /// The value, or the nearest bound.
    fileprivate func clamped(_ value: Int) -> Int { Swift.min(Swift.max(value, lowerBound), upperBound) }
}
