import Foundation
import SundialMySQL
import SundialTesting
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `sundial executor --listen`: the probes and metrics of a real executor process on MariaDB.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase))
struct OperationsEndpointTests {
    static let name = "sundial_test_cli_operations"

    /// A port nobody listens on now.
    static func freePort() throws -> Int { LoopbackSocket().port }

    /// The metric names the README's Operations section documents.
    static func documentedMetrics() throws -> [String] {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../README.md"), encoding: .utf8)
        let section =
            readme.components(separatedBy: "\n## Operations\n").dropFirst().first?
            .components(separatedBy: "\n## ").first ?? ""
        let names = section.split(separator: "\n").compactMap { line in
            line.hasPrefix("| `sundial_") ? line.dropFirst(3).prefix { $0 != "{" && $0 != "`" }.description : nil
        }
        #expect(names.count >= 10, "the README's metrics table was not found")
        return names
    }

    static func get(_ url: String) -> (status: Int, body: String)? {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, String)?
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 2
        URLSession.shared.dataTask(with: request) { data, response, _ in
            if let response = response as? HTTPURLResponse {
                result = (response.statusCode, String(decoding: data ?? Data(), as: UTF8.self))
            }
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    @Test func probesAndMetricsOfARunningExecutorAndItsDrain() throws {
        let db = try IntegrationEnvironment.migratedDatabase(Self.name)
        let port = try Self.freePort()
        let base = "http://127.0.0.1:\(port)"
        try db.execute(
            "INSERT INTO cron (name, action) SELECT CONCAT('quick-', seq), 'noop' FROM seq_1_to_20")
        // One task asks for series of its own.
        try db.execute("UPDATE cron SET metrics = 1 WHERE name = 'quick-7'")
        let executor = Process()
        executor.executableURL = IntegrationEnvironment.sundialBinary
        executor.arguments = [
            "executor", "--poll-interval", "0.05", "--heartbeat", "0.2", "--log-level", "error", "--listen",
            "127.0.0.1:\(port)",
        ]
        executor.environment = ProcessInfo.processInfo.environment.merging(try Sundial.environment(database: Self.name))
        { $1 }
        try executor.run()
        defer { if executor.isRunning { executor.terminate() } }

        #expect(try db.waitFor(20) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") == 20 })
        var ready: (status: Int, body: String)?
        for _ in 0..<50 {
            ready = Self.get("\(base)/readyz")
            if ready?.status == 200 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(ready?.status == 200, "\(String(describing: ready))")
        #expect(Self.get("\(base)/livez")?.status == 200)
        // The per-task series are sampled every 5 s: wait for one taken after quick-7 succeeded.
        var metrics = try #require(Self.get("\(base)/metrics"))
        for _ in 0..<120 where !metrics.body.contains(#"sundial_task_last_success_timestamp_seconds{task="quick-7"} 1"#)
        {
            Thread.sleep(forTimeInterval: 0.1)
            metrics = try #require(Self.get("\(base)/metrics"))
        }
        #expect(metrics.body.contains(#"sundial_task_running{task="quick-7"} 0"#), "\(metrics.body)")
        #expect(!metrics.body.contains(#"task="quick-8""#))
        for name in try Self.documentedMetrics() {
            #expect(metrics.body.contains("\n\(name)"), "\(name) is documented, not exported")
        }
        #expect(metrics.body.contains(#"sundial_db_pool_connections{pool="primary",state="idle"}"#))
        // The same total as cron_run.
        #expect(metrics.body.contains(#"sundial_runs_total{action="noop",status="succeeded"} 20"#), "\(metrics.body)")

        // A SIGTERM while a run is going: not ready while it drains, then gone.
        try db.execute("INSERT INTO cron (name, action, payload) VALUES ('nap', 'sleep', '{\"seconds\": 3}')")
        #expect(try db.waitFor(20) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'") == 1 })
        executor.interrupt()
        var draining: (status: Int, body: String)?
        for _ in 0..<20 {
            draining = Self.get("\(base)/readyz")
            if draining?.status == 503 { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(
            draining?.status == 503 && draining?.body.contains("shutting down") == true,
            "\(String(describing: draining))")
        executor.waitUntilExit()
        #expect(executor.terminationStatus == 0)
        #expect(try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") == 21)
    }
}
