import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import SundialActions
import SundialCore
import SundialExecutor
import SundialMemoryStore
import SundialOperations
import SundialTesting
import Testing

@Suite struct OperationsServerTests {
    /// The metric names the README's Operations section documents (`OperationsEndpointTests`
    /// checks them all on a real executor process).
    static func documentedMetrics() throws -> [String] {
        let readme = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "../../README.md"), encoding: .utf8)
        let section =
            try #require(readme.components(separatedBy: "\n## Operations\n").dropFirst().first)
            .components(separatedBy: "\n## ").first ?? ""
        return section.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("| `sundial_") else { return nil }
            return line.dropFirst(3).prefix { $0 != "{" && $0 != "`" }.description
        }
    }

    @Test func everyDocumentedMetricIsExportedAndCountsTheRuns() async throws {
        let documented = try Self.documentedMetrics()
        #expect(documented.count >= 10, "the README's metrics table was not found: \(documented)")
        let registry = PrometheusCollectorRegistry()
        let store = InMemoryStore(clock: .system)
        for i in 0..<5 {
            var row = TaskRow(id: 0, name: "t\(i)", action: "noop")
            row.nextRun = Date().addingTimeInterval(-1)
            row.metrics = i == 0  // one task with series of its own
            _ = store.insertRaw(row)
        }
        var settings = ExecutorConfiguration()
        settings.pollInterval = .milliseconds(20)
        settings.heartbeatInterval = .milliseconds(100)
        let liveness = ShellLiveness()
        let executor = Executor(
            store: store, configuration: settings, handlers: HandlerRegistry(liveness: liveness), liveness: liveness,
            logger: IntegrationEnvironment.logger, metrics: PrometheusMetricsFactory(registry: registry))
        try executor.start()
        defer { executor.stop() }
        let deadline = Date().addingTimeInterval(10)
        while store.allRuns.filter({ $0.status == .succeeded }).count < 5 && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await Task.sleep(for: .milliseconds(300))  // a heartbeat samples the gauges

        let app = Application(router: OperationsServer.router(registry: registry, health: { executor.health }))
        try await app.test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                let text = String(buffer: response.body)
                // The database's own (errors, pools) come from the MySQL store and the command.
                for name in documented where !name.hasPrefix("sundial_db_") {
                    #expect(text.contains("\n\(name)") || text.hasPrefix(name), "\(name) is documented, not exported")
                }
                #expect(text.contains(#"sundial_runs_total{action="noop",status="succeeded"} 5"#), "\(text)")
                #expect(text.contains(#"sundial_claimed_rows_total 5"#))
            }
            try await client.execute(uri: "/livez", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz?verbose", method: .get) { response in
                #expect(response.status == .ok)
                let body = String(buffer: response.body)
                #expect(body.contains(#""ready":true"#) && body.contains(#""name":"lease""#), "\(body)")
            }
        }
        // Stopping: not ready, and it says why.
        let stopping = Application(
            router: OperationsServer.router(
                registry: registry,
                health: {
                    var health = executor.health
                    health.stopping = true
                    return health
                }))
        try await stopping.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("shutting down"))
            }
        }
    }
}
