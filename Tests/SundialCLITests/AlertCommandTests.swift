import Foundation
import SundialMySQL
import SundialTesting
import Testing

/// `sundial alert test` and `sundial alert list`, and the alert flags of `task add`, end to end.
@Suite(.serialized)
struct AlertCommandTests {
    func settings(_ json: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "sundial-alerts-\(UUID().uuidString).json")
        try json.write(to: path, atomically: true, encoding: .utf8)
        return path.path
    }

    @Test func aTestAlertReachesTheChannelOrSaysWhyNot() throws {
        let receiver = try AlertReceiver()
        let file = try settings(
            """
            {"channels": {
              "hook": {"type": "webhook", "url": "\(receiver.url("ok"))", "template": "slack"},
              "broken": {"type": "webhook", "url": "\(receiver.url("status/404"))"}
            }}
            """)
        let sent = try Sundial.run(["alert", "test", "hook", "--alerts", file])
        #expect(sent.status == 0 && sent.standardOutput == "delivered a test alert through hook\n", "\(sent)")
        let body = String(decoding: try #require(receiver.received.first).body, as: UTF8.self)
        #expect(body.contains(":information_source: *test*: a test alert for channel hook"))

        let refused = try Sundial.run(["alert", "test", "broken"], environment: ["SUNDIAL_ALERTS": file])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("channel broken: 127.0.0.1 answered HTTP 404"), "\(refused)")
        let unknown = try Sundial.run(["alert", "test", "pager", "--alerts", file])
        #expect(unknown.status != 0 && unknown.standardError.contains("no channel named pager"))
        let bad = try Sundial.run([
            "alert", "test", "hook", "--alerts", try settings(#"{"channels": {"hook": {"type": "fax"}}}"#),
        ])
        #expect(bad.status != 0 && bad.standardError.contains("type must be webhook, email or command, not \"fax\""))
    }

    @Test(.enabled(if: IntegrationEnvironment.hasDatabase)) func anExecutorRefusesBadSettingsAndListsWhatItRaised()
        throws
    {
        let name = "sundial_test_cli_alerts"
        let db = try IntegrationEnvironment.migratedDatabase(name)
        let environment = try Sundial.environment(database: name)
        let broken = try Sundial.run(
            ["executor", "--listen", "off", "--alerts", try settings(#"{"defaults": ["nowhere"]}"#)],
            environment: environment)
        #expect(broken.status != 0)
        #expect(broken.standardError.contains("defaults names \"nowhere\", which is not a channel"), "\(broken)")

        let added = try Sundial.run(
            [
                "task", "add", "watched", "--action", "noop", "--schedule", "@every 1h", "--alerts", "pager,ops",
                "--alert-late", "30", "--metrics",
            ],
            environment: environment)
        #expect(added.status == 0, "\(added)")
        let row = try #require(
            try db.query(
                "SELECT alerts, alert_late_seconds, metrics FROM cron WHERE name = 'watched'", consistency: .primary
            ).first)
        #expect(
            row["alerts"].string == "pager,ops" && row["alert_late_seconds"].double == 30 && row["metrics"].int == 1)
        let shown = try Sundial.run(["task", "show", "watched"], environment: environment).standardOutput
        #expect(shown.contains("health:      ok, last success never"), "\(shown)")
        #expect(shown.contains("alerts:      defaults + pager,ops, late after 30.0 s, own metric series"), "\(shown)")

        #expect(try Sundial.run(["alert", "list"], environment: environment).standardOutput == "no alerts\n")
        try db.execute(
            "INSERT INTO alert (event, subject, channel, summary, raised_by, status, attempts, error) VALUES ('missed', 'task:1', 'pager', 'watched has not started', 'e1', 'failed', 10, 'HTTP 500')"
        )
        let listed = try Sundial.run(["alert", "list"], environment: environment)
        #expect(
            listed.standardOutput.contains(
                "missed  → pager  failed (10 attempts)  watched has not started  [HTTP 500]"), "\(listed)")
    }
}
