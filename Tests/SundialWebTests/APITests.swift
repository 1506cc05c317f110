import Foundation
import Hummingbird
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

/// The REST API end to end through Hummingbird's test client, with bearer tokens.
@Suite struct APITests {
    /// A token for each role, made as an admin would.
    static func tokens(_ harness: ConsoleHarness) throws -> [Role: String] {
        let users = UserAdmin(store: harness.store)
        var tokens: [Role: String] = [:]
        for role in Role.allCases {
            let owner = try users.named(role.rawValue)
            tokens[role] = try users.makeToken(
                owner: owner, name: "test", role: role, lifetime: .seconds(3600), by: "test"
            ).secret
        }
        return tokens
    }

    static func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String?,
        json: String? = nil
    ) async throws -> (HTTPResponse.Status, [String: Any]) {
        var headers: HTTPFields = [.accept: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
        let object = (try? JSONSerialization.jsonObject(with: Data(buffer: response.body))) as? [String: Any] ?? [:]
        return (response.status, object)
    }

    @Test func tasksAreMadeReadChangedAndSteeredWithATokenAndRefusedWithout() async throws {
        let harness = try await ConsoleHarness()
        let tokens = try Self.tokens(harness)
        try await harness.test { client in
            let op = tokens[.operator]!
            let (created, task) = try await Self.call(
                client, .post, "/api/v1/tasks", token: op,
                json:
                    #"{"name":"report","action":"shell","payload":"{\"command\":\"echo hi\"}","schedule":"0 3 * * *","timezone":"Europe/London","max_attempts":2}"#
            )
            #expect(created == .created)
            #expect(task["name"] as? String == "report" && task["status"] as? String == "active")
            #expect(task["next_run"] is String && task["max_attempts"] as? Int == 2)

            // Refusals: a bad schedule names its field; a taken name is a conflict; no token, a
            // bad token and a viewer's token are refused; nothing is saved by any of them.
            let (invalid, problem) = try await Self.call(
                client, .post, "/api/v1/tasks", token: op,
                json: #"{"name":"bad","action":"noop","schedule":"61 * * * *"}"#)
            #expect(invalid == .unprocessableContent)
            let detail = problem["error"] as? [String: Any]
            #expect(detail?["code"] as? String == "invalid" && detail?["field"] as? String == "schedule")
            #expect(
                try await Self.call(
                    client, .post, "/api/v1/tasks", token: op, json: #"{"name":"report","action":"noop"}"#
                ).0 == .conflict)
            #expect(
                try await Self.call(client, .post, "/api/v1/tasks", token: nil, json: #"{"name":"x","action":"noop"}"#)
                    .0 == .unauthorized)
            #expect(try await Self.call(client, .get, "/api/v1/tasks", token: nil).0 == .unauthorized)
            #expect(
                try await Self.call(client, .get, "/api/v1/tasks", token: "sdl_" + String(repeating: "A", count: 32)).0
                    == .unauthorized)
            #expect(
                try await Self.call(
                    client, .post, "/api/v1/tasks", token: tokens[.viewer], json: #"{"name":"x","action":"noop"}"#
                ).0 == .forbidden)
            #expect(
                try await Self.call(client, .post, "/api/v1/tasks", token: op, json: #"{"name":1}"#).0 == .badRequest)
            #expect(try harness.store.task(named: "bad") == nil && harness.store.task(named: "x") == nil)

            let (listed, page) = try await Self.call(client, .get, "/api/v1/tasks?limit=1", token: tokens[.viewer])
            #expect(listed == .ok && (page["items"] as? [Any])?.count == 1 && page["next_cursor"] == nil)
            #expect(try await Self.call(client, .get, "/api/v1/tasks/report", token: tokens[.viewer]).0 == .ok)
            #expect(try await Self.call(client, .get, "/api/v1/tasks/nothing", token: tokens[.viewer]).0 == .notFound)
            let (updated, changed) = try await Self.call(
                client, .put, "/api/v1/tasks/report", token: op, json: #"{"action":"noop","schedule":"*/5 * * * *"}"#)
            #expect(
                updated == .ok && changed["schedule"] as? String == "*/5 * * * *"
                    && changed["action"] as? String == "noop")
            #expect(try await Self.call(client, .post, "/api/v1/tasks/report/pause", token: op).0 == .ok)
            #expect(try harness.store.task(named: "report")?.status == .paused)
            #expect(try await Self.call(client, .post, "/api/v1/tasks/report/pause", token: op).0 == .conflict)
            #expect(try await Self.call(client, .post, "/api/v1/tasks/report/resume", token: op).0 == .ok)
            #expect(try await Self.call(client, .post, "/api/v1/tasks/report/run", token: op).0 == .ok)
            let (bulk, result) = try await Self.call(
                client, .post, "/api/v1/tasks/bulk", token: op, json: #"{"action":"pause","names":["report","ghost"]}"#)
            #expect(bulk == .ok && result["matched"] as? Int == 2 && result["changed"] as? Int == 1)
            #expect((result["failures"] as? [[String: Any]])?.first?["name"] as? String == "ghost")
            #expect(try await Self.call(client, .delete, "/api/v1/tasks/report", token: op).0 == .noContent)
            #expect(try harness.store.task(named: "report") == nil)
            let audit = try harness.store.auditLog(AuditFilter(subject: "report"), before: nil, limit: 20)
            #expect(audit.allSatisfy { $0.draft.actor.hasPrefix("token:") })
            #expect(audit.count == 7)
        }
    }

    @Test func bulkByFilterActsOnEveryMatchingTaskWithinTheCallersTags() async throws {
        let harness = try await ConsoleHarness()
        for i in 0..<30 {
            var task = NewTask(name: "etl-\(i)", action: "noop")
            task.tags = i % 2 == 0 ? "etl" : "other"
            try harness.services.admin.add(task)
        }
        let tokens = try Self.tokens(harness)
        try await harness.test { client in
            let (status, result) = try await Self.call(
                client, .post, "/api/v1/tasks/bulk", token: tokens[.operator]!,
                json: #"{"action":"pause","tag":"etl","search":"etl-"}"#)
            #expect(status == .ok && result["matched"] as? Int == 15 && result["changed"] as? Int == 15)
            #expect(try harness.store.tasks(TaskFilter(status: .paused), after: nil, limit: 100).count == 15)
        }
    }

    @Test func runsExecutorsPreviewUsersAndTokens() async throws {
        let harness = try await ConsoleHarness()
        let task = try harness.services.admin.add(NewTask(name: "job", action: "noop"))
        let now = try harness.store.now()
        var run = RunRecord(
            taskID: task.id, token: ClaimToken(1), scheduledFor: now, attempt: 0, executor: "e1", startedAt: now,
            finishedAt: now.addingTimeInterval(1), status: .succeeded)
        run.output = "all good\n"
        try harness.store.record(RunBatch(started: [run]))
        let tokens = try Self.tokens(harness)
        try await harness.test { client in
            let viewer = tokens[.viewer]!
            let (listed, page) = try await Self.call(client, .get, "/api/v1/runs?task=job", token: viewer)
            let first = (page["items"] as? [[String: Any]])?.first
            #expect(listed == .ok && first?["task"] as? String == "job" && first?["output"] == nil)
            let id = try #require(first?["id"] as? Int)
            #expect(
                try await Self.call(client, .get, "/api/v1/runs/\(id)", token: viewer).1["output"] as? String
                    == "all good\n")
            let output = try await client.execute(
                uri: "/api/v1/runs/\(id)/output", method: .get, headers: [.authorization: "Bearer \(viewer)"])
            #expect(String(buffer: output.body) == "all good\n")
            #expect(try await Self.call(client, .get, "/api/v1/runs?cursor=abc", token: viewer).0 == .badRequest)
            #expect(try await Self.call(client, .get, "/api/v1/runs?status=nonsense", token: viewer).0 == .badRequest)
            #expect(try await Self.call(client, .get, "/api/v1/executors", token: viewer).0 == .ok)
            let (previewed, preview) = try await Self.call(
                client, .get, "/api/v1/schedule/preview?expr=%40daily&tz=Europe%2FParis&count=3", token: viewer)
            #expect(previewed == .ok && preview["valid"] as? Bool == true && (preview["fires"] as? [Any])?.count == 3)

            // Users and tokens are for admins.
            #expect(try await Self.call(client, .get, "/api/v1/users", token: tokens[.operator]).0 == .forbidden)
            let admin = tokens[.admin]!
            #expect(try await Self.call(client, .get, "/api/v1/users", token: admin).0 == .ok)
            let (made, created) = try await Self.call(
                client, .post, "/api/v1/tokens", token: admin, json: #"{"name":"ci","role":"viewer","owner":"viewer"}"#)
            #expect(made == .created)
            let secret = try #require(created["secret"] as? String)
            #expect(secret.hasPrefix("sdl_"))
            #expect(try await Self.call(client, .get, "/api/v1/tasks", token: secret).0 == .ok)
            // A token's role is never above its owner's.
            #expect(
                try await Self.call(
                    client, .post, "/api/v1/tokens", token: admin,
                    json: #"{"name":"up","role":"admin","owner":"viewer"}"#
                ).0 == .unprocessableContent)
            let tokenID = try #require((created["token"] as? [String: Any])?["id"] as? Int)
            #expect(try await Self.call(client, .delete, "/api/v1/tokens/\(tokenID)", token: admin).0 == .noContent)
            #expect(try await Self.call(client, .get, "/api/v1/tasks", token: secret).0 == .unauthorized)
            #expect(try await Self.call(client, .delete, "/api/v1/tokens/\(tokenID)", token: admin).0 == .notFound)
            let (added, user) = try await Self.call(
                client, .post, "/api/v1/users", token: admin,
                json: #"{"name":"dana","role":"operator","password":"long enough password"}"#)
            #expect(added == .created && user["role"] as? String == "operator")
            #expect(
                try await Self.call(
                    client, .patch, "/api/v1/users/dana", token: admin, json: #"{"disabled":true}"#
                ).1["disabled"] as? Bool == true)
        }
    }

    @Test func theDocumentIsServedAsWritten() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let response = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
            #expect(response.status == .ok)
            let document = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
            #expect(document?["openapi"] as? String == "3.1.0")
            #expect((document?["paths"] as? [String: Any])?["/tasks"] != nil)
        }
    }

    /// Nobody locks themselves out: an admin's own token cannot disable or demote its owner, and
    /// a value the document does not allow (a nullable enum's empty string) is refused.
    @Test func anAdminCannotDisableOrDemoteThemselvesAndEmptyChoicesAreRefused() async throws {
        let harness = try await ConsoleHarness()
        let tokens = try Self.tokens(harness)
        try await harness.test { client in
            let admin = tokens[.admin]!
            for body in [#"{"disabled":true}"#, #"{"role":"viewer"}"#] {
                let (status, answer) = try await Self.call(
                    client, .patch, "/api/v1/users/admin", token: admin, json: body)
                #expect(status == .conflict, "\(body)")
                #expect(((answer["error"] as? [String: Any])?["message"] as? String)?.contains("yourself") == true)
            }
            #expect(try harness.store.user(named: "admin")?.disabled == false)
            #expect(try harness.store.user(named: "admin")?.role == .admin)
            // Another user may be changed; an empty role is not a role.
            #expect(
                try await Self.call(client, .patch, "/api/v1/users/viewer", token: admin, json: #"{"role":""}"#).0
                    == .badRequest)
            #expect(
                try await Self.call(client, .patch, "/api/v1/users/viewer", token: admin, json: #"{"disabled":true}"#).0
                    == .ok)
            let (bulk, _) = try await Self.call(
                client, .post, "/api/v1/tasks/bulk", token: tokens[.operator]!,
                json: #"{"action":"delete","status":""}"#)
            #expect(bulk == .badRequest)
        }
    }
}
