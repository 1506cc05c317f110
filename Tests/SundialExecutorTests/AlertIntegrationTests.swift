import Foundation
import SundialAlerts
import SundialMySQL
import SundialTesting
import Testing

/// Every alert event, raised by real `sundial executor` processes on a real MariaDB and
/// delivered to a local webhook receiver (its signature checked) and a command.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase, "needs SUNDIAL_TEST_DATABASE_URL"))
final class AlertIntegrationTests {
    static let name = "sundial_test_alerts"
    let db: Database
    let url: String
    let receiver: AlertReceiver
    let folder: URL
    let settings: URL

    init() throws {
        db = try IntegrationEnvironment.migratedDatabase(Self.name)
        url = try IntegrationEnvironment.url(database: Self.name)
        receiver = try AlertReceiver()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        settings = folder.appendingPathComponent("alerts.json")
        let json = """
            {"defaults": ["hook", "cmd"], "late_seconds": 2, "dedupe_seconds": 600,
             "channels": {
               "hook": {"type": "webhook", "url": "\(receiver.url("ok"))", "secret_env": "TEST_HOOK_SECRET"},
               "cmd": {"type": "command", "command": "cat > \(folder.path)/$SUNDIAL_ALERT_EVENT-$SUNDIAL_ALERT_ID.json"}
             }}
            """
        try json.write(to: settings, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    func executor(_ name: String, _ arguments: [String] = []) throws -> ExecutorProcess {
        setenv("TEST_HOOK_SECRET", "hush", 1)
        return try ExecutorProcess(name: name, databaseURL: url, arguments: ["--alerts", settings.path] + arguments)
    }

    /// The webhook bodies received so far, each checked against its signature.
    func events(where match: ([String: Any]) -> Bool = { _ in true }) -> [[String: Any]] {
        receiver.received.compactMap { request -> [String: Any]? in
            guard let timestamp = request.headers["x-sundial-timestamp"].flatMap(Int.init),
                let signature = request.headers["x-sundial-signature"],
                WebhookSignature.isValid(signature, body: request.body, timestamp: timestamp, secret: "hush")
            else {
                Issue.record("a webhook request without a valid signature: \(request.headers)")
                return nil
            }
            return try? JSONSerialization.jsonObject(with: request.body) as? [String: Any]
        }.filter(match)
    }

    func waitForEvents(_ timeout: TimeInterval, _ wanted: [(event: String, task: String)]) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let got = events().map {
                ($0["event"] as? String ?? "", (($0["task"] as? [String: Any])?["name"] as? String) ?? "")
            }
            if wanted.allSatisfy({ w in got.contains { $0 == w.event && $1 == w.task } }) { return true }
            Thread.sleep(forTimeInterval: 0.2)
        }
        return false
    }

    func commandFiles(_ event: String) -> [[String: Any]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix("\(event)-") }.compactMap {
            try? JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent($0)))
                as? [String: Any]
        }
    }

    @Test func failedDeadTimedOutAndRecoveredReachEveryChannelOnce() throws {
        let flag = folder.appendingPathComponent("flappy-ran").path
        try db.execute(
            """
            INSERT INTO cron (name, action, payload, schedule, timeout_seconds, max_attempts, backoff_seconds) VALUES
            ('broken', 'fail', NULL, '@every 1s', 3600, 1, 10),
            ('doomed', 'fail', NULL, NULL, 3600, 2, 0.1),
            ('slow', 'sleep', '{"seconds": 5}', '@every 2s', 0.3, 1, 10),
            ('flappy', 'shell', '{"command": "[ -e \(flag) ] || { touch \(flag); exit 1; }"}', '@every 1s', 3600, 1, 10)
            """)
        let executor = try executor("alerting", ["--threads", "4"])
        defer { executor.signal(SIGKILL) }
        #expect(
            waitForEvents(
                60,
                [
                    ("failed", "broken"), ("dead", "doomed"), ("timed_out", "slow"), ("failed", "slow"),
                    ("failed", "flappy"), ("recovered", "flappy"),
                ]))
        // Deduplicated: `broken` fails every second, and is reported once in the window.
        #expect(
            events {
                $0["event"] as? String == "failed" && ($0["task"] as? [String: Any])?["name"] as? String == "broken"
            }.count == 1)
        // The second attempt of `doomed` is the one reported, with its error.
        let dead = try #require(events { $0["event"] as? String == "dead" }.first)
        #expect((dead["run"] as? [String: Any])?["attempt"] as? Int == 2)
        #expect((dead["summary"] as? String)?.hasPrefix("doomed failed (attempt 2 of 2") == true)
        // Every alert went through the command too, and is on record as delivered.
        #expect(try db.waitFor(20) { try db.count("SELECT COUNT(*) FROM alert WHERE status <> 'delivered'") == 0 })
        let stored = try db.count("SELECT COUNT(*) FROM alert WHERE channel = 'cmd'")
        let hooked = try db.count("SELECT COUNT(*) FROM alert WHERE channel = 'hook'")
        #expect(stored >= 6 && stored == hooked)
        #expect(commandFiles("recovered").first?["summary"] as? String == "flappy succeeded again")
        #expect(try db.count("SELECT failing FROM cron WHERE name = 'flappy'") == 0)
        #expect(try db.count("SELECT failing FROM cron WHERE name = 'broken'") == 1)
        executor.signal(SIGTERM)
        #expect(executor.wait(timeout: 30) == 0)
    }

    @Test func aMissedFireIsReportedWhenEveryExecutorOfItsTagIsStopped() throws {
        try db.execute("INSERT INTO cron (name, action, schedule, tags) VALUES ('render', 'noop', '@every 1s', 'gpu')")
        let gpu = try executor("gpu-box", ["--tags", "gpu"])
        let plain = try executor("plain-box")
        defer { [gpu, plain].forEach { $0.signal(SIGKILL) } }
        #expect(try db.waitFor(20) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") >= 2 })
        #expect(events().isEmpty)
        gpu.signal(SIGTERM)
        #expect(gpu.wait(timeout: 30) == 0)
        // The plain executor cannot run the task, and says so: late by 2 s, noticed within 5 s.
        #expect(waitForEvents(30, [("missed", "render"), ("no_executor_for_action", "")]))
        let missed = try #require(events { $0["event"] as? String == "missed" }.first)
        #expect(missed["detail"] as? String == "no live executor runs action noop with tags gpu")
        #expect((missed["raised_by"] as? String)?.hasPrefix("plain-box") == true)
        let nobody = try #require(events { $0["event"] as? String == "no_executor_for_action" }.first)
        #expect(nobody["subject"] as? String == "action:noop tags:gpu")
        #expect(commandFiles("missed").count == 1)
        plain.signal(SIGTERM)
        #expect(plain.wait(timeout: 30) == 0)
    }

    @Test func anExecutorThatDiesIsReportedByTheOneThatTakesItsWorkOver() throws {
        let victim = try executor("victim")
        let survivor = try executor("survivor")
        defer { survivor.signal(SIGKILL) }
        #expect(try db.waitFor(10) { try db.count("SELECT COUNT(*) FROM cron_executor WHERE state = 'running'") == 2 })
        victim.signal(SIGKILL)
        #expect(victim.wait(timeout: 5) == SIGKILL)
        #expect(waitForEvents(30, [("executor_dead", "")]))
        let dead = try #require(events { $0["event"] as? String == "executor_dead" }.first)
        #expect((dead["subject"] as? String)?.hasPrefix("executor:victim") == true)
        #expect((dead["raised_by"] as? String)?.hasPrefix("survivor") == true)
        #expect(dead["task"] is NSNull)
        survivor.signal(SIGTERM)
        #expect(survivor.wait(timeout: 30) == 0)
    }
}
