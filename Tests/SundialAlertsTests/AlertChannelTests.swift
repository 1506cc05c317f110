import Foundation
import SundialActions
import SundialAlerts
import SundialCore
import SundialMemoryStore
import SundialTesting
import Testing

/// Each channel against a real receiver: a local HTTP server, a mail server that requires
/// STARTTLS and a login, a shell.
@Suite struct AlertChannelTests {
    static let alert = Alert(
        id: 7,
        draft: AlertDraft(
            event: .timedOut, subject: "task:3", channel: "ops", taskID: 3, taskName: "backup",
            summary: "backup timed out (attempt 1 of 1) and was killed", detail: "timed out after 5 s",
            raisedBy: "db1:99", dedupeWindow: .zero),
        createdAt: Date(), attempts: 1)

    func channel(_ kind: ChannelSettings.Kind, timeout: Duration = .seconds(5)) -> any AlertChannel {
        ChannelSettings(name: "ops", kind: kind, events: Set(AlertEvent.allCases), timeout: timeout, attempts: 3)
            .makeChannel()
    }

    func deliver(_ channel: any AlertChannel) -> String? {
        do {
            try channel.deliver(AlertMessage(alert: Self.alert, sentAt: Date()))
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aWebhookPostsSignedJSONAndReportsARefusal() throws {
        let receiver = try AlertReceiver()
        let hook = channel(
            .webhook(
                url: URL(string: receiver.url("ok"))!, template: .generic, secret: "hush", headers: ["X-Team": "db"]))
        #expect(deliver(hook) == nil)
        let got = try #require(receiver.received.first)
        #expect(got.headers["content-type"] == "application/json" && got.headers["x-sundial-event"] == "timed_out")
        #expect(got.headers["x-team"] == "db" && got.headers["x-sundial-alert-id"] == "7")
        let timestamp = try #require(got.headers["x-sundial-timestamp"].flatMap(Int.init))
        let signature = try #require(got.headers["x-sundial-signature"])
        #expect(WebhookSignature.isValid(signature, body: got.body, timestamp: timestamp, secret: "hush"))
        #expect(!WebhookSignature.isValid(signature, body: got.body, timestamp: timestamp, secret: "other"))
        let object = try JSONSerialization.jsonObject(with: got.body) as? [String: Any]
        #expect(object?["event"] as? String == "timed_out" && object?["summary"] as? String == Self.alert.draft.summary)

        // Slack's template; no secret, no signature.
        let slack = channel(
            .webhook(url: URL(string: receiver.url("ok"))!, template: .slack, secret: nil, headers: [:]))
        #expect(deliver(slack) == nil)
        let text = try #require(receiver.received.last)
        #expect(text.headers["x-sundial-signature"] == nil)
        #expect(String(decoding: text.body, as: UTF8.self).hasPrefix(#"{"text":":rotating_light: *timed_out*"#))

        let refused = channel(
            .webhook(url: URL(string: receiver.url("status/503"))!, template: .generic, secret: nil, headers: [:]))
        #expect(deliver(refused)?.hasPrefix("127.0.0.1 answered HTTP 503") == true)
    }

    @Test func aWebhookThatNeverAnswersTimesOut() throws {
        // A socket that listens and never accepts: the connection opens, no answer comes.
        let listener = LoopbackSocket(listening: true)
        let port = listener.port
        let hook = channel(
            .webhook(url: URL(string: "http://127.0.0.1:\(port)/")!, template: .generic, secret: nil, headers: [:]),
            timeout: .milliseconds(500))
        let started = Date()
        let error = deliver(hook)
        #expect(error?.contains("Timeout") == true || error?.contains("timed out") == true)
        #expect(Date().timeIntervalSince(started) < 10)
        withExtendedLifetime(listener) {}
    }

    @Test(.enabled(if: AlertReceiver.mailServerExpected)) func mailGoesOverSTARTTLSWithALoginAndAVerifiedCertificate()
        throws
    {
        let receiver = try AlertReceiver(smtp: true)
        let port = try #require(receiver.smtpPort)
        func mail(password: String, trust: String?, startTLS: Bool = true) -> any AlertChannel {
            channel(
                .email(
                    EmailSettings(
                        server: URL(string: "smtp://127.0.0.1:\(port)")!, from: "Sundial <sundial@example.com>",
                        to: ["oncall@example.com", "Ops <ops@example.com>"], username: "sundial", password: password,
                        startTLS: startTLS, caFile: trust)))
        }
        #expect(deliver(mail(password: "s3cret", trust: receiver.certificate)) == nil)
        let got = try #require(receiver.wait(timeout: 10) { !$0.isEmpty }.first)
        #expect(got.kind == "smtp" && got.tls && got.login == "sundial")
        #expect(got.from == "sundial@example.com" && got.to == ["oncall@example.com", "ops@example.com"])
        let text = try #require(got.mail)
        #expect(text.contains("Subject: [sundial] timed_out: backup timed out (attempt 1 of 1) and was killed"))
        #expect(text.contains("timed out after 5 s"))

        // A wrong password, an untrusted certificate: refused, with the reason.
        #expect(deliver(mail(password: "wrong", trust: receiver.certificate)) != nil)
        let untrusted = deliver(mail(password: "s3cret", trust: nil))
        #expect(untrusted?.lowercased().contains("certificate") == true || untrusted?.contains("SSL") == true)
        #expect(receiver.received.count == 1)
    }

    @Test func aCommandGetsTheAlertOnStdinAndInItsEnvironment() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let command = channel(
            .command(
                #"cat > "$DIR/in.json"; echo "$SUNDIAL_ALERT_EVENT $SUNDIAL_ALERT_TASK" > "$DIR/env""#
                    .replacingOccurrences(of: "$DIR", with: folder.path)))
        #expect(deliver(command) == nil)
        let stdin = try Data(contentsOf: folder.appendingPathComponent("in.json"))
        #expect((try JSONSerialization.jsonObject(with: stdin) as? [String: Any])?["alert_id"] as? Int == 7)
        #expect(try String(contentsOf: folder.appendingPathComponent("env"), encoding: .utf8) == "timed_out backup\n")

        #expect(
            deliver(channel(.command("echo 'no route to pager' >&2; exit 3")))
                == "the command exited with status 3: no route to pager")
        let started = Date()
        let slow = deliver(channel(.command("sleep 30"), timeout: .milliseconds(300)))
        #expect(slow?.hasPrefix("the command did not finish within 0.3 s") == true)
        #expect(Date().timeIntervalSince(started) < 10)
        // A command that never reads its stdin is not held up by it.
        #expect(deliver(channel(.command("exit 0"))) == nil)
    }

    @Test func aCommandSeesNoSecretAndItsWholeGroupEndsAtTheTimeout() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-cmd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        setenv("SUNDIAL_DATABASE_URL", "mysql://u:hunter2@db/x", 1)
        setenv("TEST_ALERT_SECRET", "s3cret", 1)
        JobEnvironment.withhold(["TEST_ALERT_SECRET"])
        #expect(deliver(channel(.command("env > \(folder.path)/env"))) == nil)
        let seen = try String(contentsOf: folder.appendingPathComponent("env"), encoding: .utf8)
        #expect(!seen.contains("hunter2") && !seen.contains("s3cret") && seen.contains("SUNDIAL_ALERT_EVENT=timed_out"))

        // A pipeline's other processes go with the shell when the timeout comes.
        let marker = "31.\(Int.random(in: 1000...9999))"
        let slow = deliver(channel(.command("sleep \(marker) | sleep \(marker)"), timeout: .milliseconds(300)))
        #expect(slow?.hasPrefix("the command did not finish") == true)
        Thread.sleep(forTimeInterval: 0.3)
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-f", "sleep \(marker)"]
        pgrep.standardOutput = FileHandle.nullDevice
        try pgrep.run()
        pgrep.waitUntilExit()
        #expect(pgrep.terminationStatus == 1, "processes of the timed-out command are still running")
    }
}
