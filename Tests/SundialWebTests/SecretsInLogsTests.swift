import Foundation
import Hummingbird
import HummingbirdOTP
import HummingbirdTesting
import Logging
import SundialCore
import SundialWeb
import Synchronization
import Testing

/// Passwords, API tokens and second-factor keys pass through the console and the API; none of
/// them ever reaches a log line, at any level, in the message or its metadata.
@Suite struct SecretsInLogsTests {
    /// Keeps every line logged, rendered with its metadata.
    final class CapturedLogs: Sendable {
        let lines = Mutex<[String]>([])

        func logger() -> Logger {
            var logger = Logger(label: "captured") { _ in Handler(logs: self) }
            logger.logLevel = .trace
            return logger
        }

        struct Handler: LogHandler {
            let logs: CapturedLogs
            var metadata: Logger.Metadata = [:]
            var logLevel: Logger.Level = .trace

            subscript(metadataKey key: String) -> Logger.Metadata.Value? {
                get { metadata[key] }
                set { metadata[key] = newValue }
            }

            func log(event: LogEvent) {
                let all = metadata.merging(event.metadata ?? [:]) { $1 }
                logs.lines.withLock { $0.append("\(event.level) \(event.message) \(all) \(event.source)") }
            }
        }
    }

    @Test func noPasswordTokenOrKeyReachesTheLogs() async throws {
        let logs = CapturedLogs()
        let harness = try await ConsoleHarness(logger: logs.logger())
        let wrongPassword = "wrong-password-\(UUID().uuidString)"
        let newPassword = "fresh-password-\(UUID().uuidString)"
        let apiPassword = "api-password-\(UUID().uuidString)"
        let secrets = Mutex([ConsoleHarness.password, wrongPassword, newPassword, apiPassword])
        try await harness.test { client in
            // Sign-ins: a wrong password, then the right one.
            let admin = Browser(client)
            #expect(try await admin.signIn("admin", password: wrongPassword).status == .unauthorized)
            // A password typed into the name field, and a name that tries to forge a log line.
            #expect(try await Browser(client).signIn(wrongPassword, password: "x").status == .unauthorized)
            let forged = "x\n2026-12-02 info sign-in refused address=6.6.6.6"
            #expect(try await Browser(client).signIn(forged, password: "x").status == .unauthorized)
            #expect(try await admin.signIn("admin").status == .seeOther)
            // A user added and a password reset: both generated passwords are shown once.
            try await admin.get("/users")
            let added = try await admin.post("/users/add", [("name", "newcomer"), ("role", "operator")]).text
            let reset = try await admin.post("/users/password", [("name", "viewer")]).text
            let token = try await admin.post("/users/token", [("owner", "admin"), ("name", "ci"), ("role", "admin")])
                .text
            for page in [added, reset, token] {
                let shown = try #require(Self.secretShown(page))
                secrets.withLock { $0.append(shown) }
            }
            // The token used, over the API: a user made with a password, a token made.
            let bearer = try #require(Self.secretShown(token))
            var headers: HTTPFields = [.authorization: "Bearer \(bearer)", .contentType: "application/json"]
            let made = try await client.execute(
                uri: "/api/v1/users", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"name":"api-made","role":"viewer","password":"\#(apiPassword)"}"#))
            #expect(made.status == .created)
            let apiToken = try await client.execute(
                uri: "/api/v1/tokens", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"name":"deploy","role":"viewer"}"#))
            let created = try JSONSerialization.jsonObject(with: Data(buffer: apiToken.body)) as? [String: Any]
            let apiSecret = try #require(created?["secret"] as? String)
            secrets.withLock { $0.append(apiSecret) }
            // A wrong token, which looks like one.
            headers[.authorization] = "Bearer sdl_" + String(repeating: "A", count: 32)
            secrets.withLock { $0.append("sdl_" + String(repeating: "A", count: 32)) }
            _ = try await client.execute(uri: "/api/v1/tasks", method: .get, headers: headers, body: nil)
            // A password changed in the settings, and a second factor set up.
            let me = Browser(client)
            try await me.signIn("operator")
            try await me.get("/settings")
            try await me.post(
                "/settings/password",
                [("current", ConsoleHarness.password), ("new", newPassword), ("repeat", newPassword)])
            try await me.signIn("operator", password: newPassword)
            try await me.get("/settings")
            let start = try await me.post("/settings/second-factor-start", []).text
            let key = try #require(SettingsTests.shownKey(start))
            let typed = SecondFactor.typedKey(secret: key, user: "operator").replacingOccurrences(of: " ", with: "")
            secrets.withLock { $0 += [key, typed] }
            let code = String(format: "%06d", TOTP(secret: key).compute(date: Date()))
            try await me.post("/settings/second-factor-on", [("current", newPassword), ("code", code)])
            #expect(try harness.store.user(named: "operator")?.totpSecret == key)
        }
        let lines = logs.lines.withLock { $0 }
        // The test sees the server's logs at all: a line per request, and the refused sign-ins.
        #expect(lines.contains { $0.contains("Request") && $0.contains("/settings/second-factor-on") })
        #expect(lines.filter { $0.contains("sign-in refused") }.count == 3)
        #expect(!lines.contains { $0.contains("6.6.6.6") })
        let all = secrets.withLock { $0 }
        #expect(all.count == 11)
        for secret in all {
            let found = lines.filter { $0.contains(secret) }
            #expect(found.isEmpty, "a secret reached the logs: \(found.prefix(2))")
        }
    }

    /// The secret a page shows once (a new password or token).
    static func secretShown(_ page: String) -> String? {
        guard let range = page.range(of: #"<pre class="output" id="secret">[^<]+</pre>"#, options: .regularExpression)
        else { return nil }
        return String(page[range]).replacingOccurrences(of: #"<pre class="output" id="secret">"#, with: "")
            .replacingOccurrences(of: "</pre>", with: "")
    }
}
