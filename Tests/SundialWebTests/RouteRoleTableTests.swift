import Foundation
import Hummingbird
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

/// One table of every route the server has, pages and API alike, with the least role each needs:
/// every role below it is refused (401 without a user, 403 with too small a role), and the role
/// itself is let through. A route added without a row here fails the test.
@Suite struct RouteRoleTableTests {
    enum Access: Equatable {
        /// Anyone: the sign-in steps, static files, the API's document.
        case anyone
        case role(Role)
    }

    struct Case: Sendable {
        var route: String
        var uri: String
        var fields: [(String, String)] = []
        var json: String? = nil
        var access: Access
    }

    /// Filled in by the setup: the run and the token ids the rows use.
    static func cases(run: Int64, tokens: (page: Int64, api: Int64)) -> [Case] {
        let op = Access.role(.operator)
        let viewer = Access.role(.viewer)
        let admin = Access.role(.admin)
        return [
            // Pages.
            Case(route: "GET /", uri: "/", access: viewer),
            Case(route: "GET /tasks", uri: "/tasks", access: viewer),
            Case(route: "GET /task", uri: "/task?name=nightly", access: viewer),
            Case(route: "GET /runs", uri: "/runs", access: viewer),
            Case(route: "GET /run", uri: "/run?id=\(run)", access: viewer),
            Case(route: "GET /run/output", uri: "/run/output?id=\(run)", access: viewer),
            Case(route: "GET /run/live", uri: "/run/live?id=\(run)", access: viewer),
            Case(route: "GET /executors", uri: "/executors", access: viewer),
            Case(route: "GET /schedule/preview", uri: "/schedule/preview?expr=%40daily&tz=UTC", access: viewer),
            Case(route: "GET /settings", uri: "/settings", access: viewer),
            Case(route: "GET /task/new", uri: "/task/new", access: op),
            Case(route: "GET /task/edit", uri: "/task/edit?name=nightly", access: op),
            Case(route: "GET /users", uri: "/users", access: admin),
            Case(route: "GET /audit", uri: "/audit", access: admin),
            Case(
                route: "POST /settings/{verb}", uri: "/settings/timezone", fields: [("timezone", "UTC")], access: viewer
            ),
            Case(route: "POST /task/{verb}", uri: "/task/pause", fields: [("name", "nightly")], access: op),
            Case(route: "POST /task/{verb}", uri: "/task/resume", fields: [("name", "nightly")], access: op),
            Case(route: "POST /task/{verb}", uri: "/task/run", fields: [("name", "nightly")], access: op),
            Case(route: "POST /task/{verb}", uri: "/task/kill", fields: [("name", "nightly")], access: op),
            Case(route: "POST /task/{verb}", uri: "/task/delete", fields: [("name", "doomed-page")], access: op),
            Case(
                route: "POST /tasks/bulk", uri: "/tasks/bulk",
                fields: [("verb", "pause"), ("scope", "selected"), ("name", "nightly")], access: op),
            Case(
                route: "POST /tasks/save", uri: "/tasks/save",
                fields: [("mode", "new"), ("name", "page-new"), ("action", "noop")], access: op),
            Case(
                route: "POST /users/{verb}", uri: "/users/add", fields: [("name", "eve"), ("role", "viewer")],
                access: admin),
            Case(
                route: "POST /users/{verb}", uri: "/users/update", fields: [("name", "target"), ("role", "operator")],
                access: admin),
            Case(route: "POST /users/{verb}", uri: "/users/password", fields: [("name", "target")], access: admin),
            Case(
                route: "POST /users/{verb}", uri: "/users/token",
                fields: [("owner", "admin"), ("name", "t"), ("role", "viewer")], access: admin),
            Case(route: "POST /users/{verb}", uri: "/users/revoke", fields: [("id", "\(tokens.page)")], access: admin),
            Case(
                route: "POST /users/{verb}", uri: "/users/second-factor-off", fields: [("name", "target")],
                access: admin),
            Case(route: "GET /login", uri: "/login", access: .anyone),
            Case(route: "POST /login", uri: "/login", access: .anyone),
            Case(route: "POST /login/code", uri: "/login/code", access: .anyone),
            Case(route: "POST /logout", uri: "/logout", access: .anyone),
            Case(route: "GET /static/{file}", uri: "/static/console.css", access: .anyone),
            Case(route: "GET /api/v1/openapi.json", uri: "/api/v1/openapi.json", access: .anyone),
            // The API.
            Case(route: "GET /api/v1/tasks", uri: "/api/v1/tasks", access: viewer),
            Case(
                route: "POST /api/v1/tasks", uri: "/api/v1/tasks", json: #"{"name":"api-new","action":"noop"}"#,
                access: op),
            Case(
                route: "POST /api/v1/tasks/bulk", uri: "/api/v1/tasks/bulk",
                json: #"{"action":"pause","names":["nightly"]}"#,
                access: op),
            Case(route: "GET /api/v1/tasks/{name}", uri: "/api/v1/tasks/nightly", access: viewer),
            Case(
                route: "PUT /api/v1/tasks/{name}", uri: "/api/v1/tasks/nightly",
                json: #"{"action":"noop","schedule":"0 4 * * *"}"#, access: op),
            Case(route: "DELETE /api/v1/tasks/{name}", uri: "/api/v1/tasks/doomed-api", access: op),
            Case(route: "POST /api/v1/tasks/{name}/run", uri: "/api/v1/tasks/nightly/run", access: op),
            Case(route: "POST /api/v1/tasks/{name}/pause", uri: "/api/v1/tasks/nightly/pause", access: op),
            Case(route: "POST /api/v1/tasks/{name}/resume", uri: "/api/v1/tasks/nightly/resume", access: op),
            Case(route: "POST /api/v1/tasks/{name}/kill", uri: "/api/v1/tasks/nightly/kill", access: op),
            Case(route: "GET /api/v1/runs", uri: "/api/v1/runs", access: viewer),
            Case(route: "GET /api/v1/runs/{id}", uri: "/api/v1/runs/\(run)", access: viewer),
            Case(route: "GET /api/v1/runs/{id}/output", uri: "/api/v1/runs/\(run)/output", access: viewer),
            Case(route: "GET /api/v1/executors", uri: "/api/v1/executors", access: viewer),
            Case(route: "GET /api/v1/schedule/preview", uri: "/api/v1/schedule/preview?expr=%40daily", access: viewer),
            Case(route: "GET /api/v1/users", uri: "/api/v1/users", access: admin),
            Case(
                route: "POST /api/v1/users", uri: "/api/v1/users",
                json: #"{"name":"api-user","role":"viewer","password":"long enough password"}"#, access: admin),
            Case(
                route: "PATCH /api/v1/users/{user}", uri: "/api/v1/users/target", json: #"{"role":"viewer"}"#,
                access: admin),
            Case(route: "GET /api/v1/tokens", uri: "/api/v1/tokens", access: admin),
            Case(
                route: "POST /api/v1/tokens", uri: "/api/v1/tokens", json: #"{"name":"t","role":"viewer"}"#,
                access: admin),
            Case(route: "DELETE /api/v1/tokens/{id}", uri: "/api/v1/tokens/\(tokens.api)", access: admin),
        ]
    }

    @Test func everyRouteRefusesEachRoleBelowItsOwnAndLetsThatRoleThrough() async throws {
        let harness = try await ConsoleHarness()
        let admin = harness.services.admin
        var nightly = NewTask(name: "nightly", action: "noop")
        nightly.schedule = "0 3 * * *"
        let task = try admin.add(nightly)
        for name in ["doomed-page", "doomed-api"] { try admin.add(NewTask(name: name, action: "noop")) }
        let now = try harness.store.now()
        try harness.store.record(
            RunBatch(started: [
                RunRecord(
                    taskID: task.id, token: ClaimToken(1), scheduledFor: now, attempt: 0, executor: "e1",
                    startedAt: now, finishedAt: now, status: .succeeded, output: "done")
            ]))
        let run = try #require(try harness.store.runs(RunFilter(), before: nil, limit: 1).first).id
        try harness.addUser("target", role: .viewer)
        let users = UserAdmin(store: harness.store)
        var tokens: [Role: String] = [:]
        for role in Role.allCases {
            tokens[role] = try users.makeToken(
                owner: try users.named(role.rawValue), name: "role", role: role, lifetime: .seconds(3600), by: "test"
            ).secret
        }
        func revocable(_ name: String) throws -> Int64 {
            try users.makeToken(
                owner: try users.named("admin"), name: name, role: .viewer, lifetime: .seconds(3600), by: "test"
            ).token.id
        }
        let cases = Self.cases(run: run, tokens: (try revocable("page"), try revocable("api")))
        let roleTokens = tokens

        // Every route the server has is in the table.
        let routes = Set(WebApplication.router(harness.services).routes.map { "\($0.method) \($0.path)" })
        let covered = Set(cases.map(\.route))
        #expect(routes.subtracting(covered).isEmpty, "routes without a row: \(routes.subtracting(covered).sorted())")
        #expect(covered.subtracting(routes).isEmpty, "rows without a route: \(covered.subtracting(routes).sorted())")

        try await harness.test { client in
            var browsers: [Role: Browser] = [:]
            for role in Role.allCases {
                let browser = Browser(client)
                #expect(try await browser.signIn(role.rawValue).status == .seeOther)
                browsers[role] = browser
            }
            for row in cases {
                guard case .role(let least) = row.access else { continue }
                let method = HTTPRequest.Method(rawValue: String(row.route.split(separator: " ")[0]))!
                let isAPI = row.uri.hasPrefix("/api/")
                // Without a user, but with the sign-in page's session and its CSRF token: refused
                // by the route's own check, not by the CSRF check.
                let stranger = Browser(client)
                try await stranger.get("/login")
                let anonymous =
                    isAPI
                    ? try await Self.api(client, method, row, token: nil)
                    : try await Self.page(stranger, method, row)
                #expect(anonymous == .unauthorized, "\(row.uri) without a user: \(anonymous)")
                // Each role: refused below the row's, let through from it (the least role last,
                // so that what it changes does not matter to the others).
                for role in Role.allCases.sorted(by: <) {
                    let status =
                        isAPI
                        ? try await Self.api(client, method, row, token: roleTokens[role])
                        : try await Self.page(browsers[role]!, method, row)
                    if role < least {
                        #expect(status == .forbidden, "\(method) \(row.uri) as \(role): \(status)")
                    } else {
                        #expect(
                            status != .forbidden && status != .unauthorized && status.code < 500,
                            "\(method) \(row.uri) as \(role): \(status)")
                        break
                    }
                }
            }
        }
    }

    static func api(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ row: Case, token: String?)
        async throws -> HTTPResponse.Status
    {
        var headers: HTTPFields = [.accept: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if row.json != nil { headers[.contentType] = "application/json" }
        return try await client.execute(
            uri: row.uri, method: method, headers: headers, body: row.json.map { ByteBuffer(string: $0) }
        ).status
    }

    static func page(_ browser: Browser, _ method: HTTPRequest.Method, _ row: Case) async throws
        -> HTTPResponse.Status
    {
        if method == .get { return try await browser.get(row.uri).status }
        // The session's own CSRF token, from a page it may see: refusals are for the role.
        try await browser.get(browser.signedIn ? "/settings" : "/login")
        return try await browser.post(row.uri, row.fields).status
    }
}
