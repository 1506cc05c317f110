import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialMySQL
import SundialMySQLStore
import SundialWeb

/// The console at scale: with 100 k tasks and 10 M runs in the tables, the task list, the run
/// list, a task's page and the dashboard must answer within 50 ms at p95 (server time: requests
/// go through the whole application in process, with no network in between).
struct ConsoleBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console", abstract: "Console pages' latency with 100 k tasks and 10 M runs.")

    @Option(help: "Tasks in cron.") var tasks = 100_000
    @Option(help: "Runs in cron_run.") var runs = 10_000_000
    @Option(help: "Timed requests per page.") var requests = 200
    @Option(help: "Keep the filled database from an earlier run of the same size.") var reuse = false
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    func run() async throws {
        let name = "sundial_bench_console"
        let bench: BenchDatabase
        if reuse, let filled = try? existing(name), filled.count == (tasks, runs) {
            bench = filled.bench
            print("console: reusing \(tasks) tasks and \(runs) runs")
        } else {
            bench = try BenchDatabase.create(named: name, baseURL: databaseURL)
            let began = ContinuousClock.now
            try fill(bench)
            print("console: filled \(tasks) tasks and \(runs) runs in \(Int((ContinuousClock.now - began).seconds)) s")
        }
        defer { bench.db.close() }
        let store = MySQLStore(database: bench.db, logger: BenchDatabase.logger)
        let users = UserAdmin(store: store, hasher: PasswordHasher())
        if try store.user(named: "bench") == nil {
            try users.add(name: "bench", role: .admin, password: "benchmark password", by: "bench")
        }
        let token = try users.makeToken(
            owner: try users.named("bench"), name: "bench", role: .admin, lifetime: .seconds(3600), by: "bench"
        ).secret
        var configuration = WebConfiguration()
        configuration.blockingThreads = 8
        let services = WebServices(
            admin: TaskAdmin(
                store: store, definitions: TaskDefinitions(handlers: HandlerRegistry(liveness: ShellLiveness()))),
            threads: BlockingThreads(count: configuration.blockingThreads), templates: try await Templates.load(),
            configuration: configuration, logger: BenchDatabase.logger)
        let pages = [
            ("task list", "/tasks"), ("task list, filtered", "/tasks?status=paused&q=t-9"),
            ("task list, by next run", "/tasks?sort=next_run"), ("task list, failing first", "/tasks?sort=last_result"),
            ("run list", "/runs"), ("run list, failed in the last hour", "/runs?status=failed&period=1h"),
            ("task page", "/task?name=t-\(tasks / 2)"),
            ("task page, failed runs of the last day", "/task?name=t-\(tasks / 2)&status=failed&period=24h"),
            ("dashboard", "/"),
        ]
        let requests = requests
        let results = try await Application(router: WebApplication.router(services)).test(.router) { client in
            var results: [(String, Double, Double, Double)] = []
            for (label, uri) in pages {
                // The first answer (cold caches: the dashboard's past hours are read then).
                let first = try await Self.time(client, uri, token: token)
                for _ in 0..<10 { _ = try await Self.time(client, uri, token: token) }
                var times: [Double] = []
                for _ in 0..<requests { times.append(try await Self.time(client, uri, token: token)) }
                results.append((label, first, times.percentile(0.5), times.percentile(0.95)))
                print(
                    "console: \(label): first \(ms(first)), p50 \(ms(times.percentile(0.5))), p95 \(ms(times.percentile(0.95)))"
                )
            }
            return results
        }
        try await services.threads.shutdown()
        let worst = results.map(\.3).max() ?? .infinity
        let met = worst < 50
        print(
            "console: \(met ? "PASS" : "FAIL") \(tasks) tasks, \(runs) runs: p95 "
                + results.map { "\($0.0) \(ms($0.3))" }.joined(separator: ", ")
                + "; target p95 < 50 ms \(met ? "met" : "MISSED")")
        if !met { throw ExitCode.failure }
    }

    static func time(_ client: some TestClientProtocol, _ uri: String, token: String) async throws -> Double {
        let start = ContinuousClock.now
        let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(token)"])
        let took = (ContinuousClock.now - start).seconds * 1000
        guard response.status == .ok else { throw ValidationError("\(uri) answered \(response.status)") }
        return took
    }

    private func existing(_ name: String) throws -> (bench: BenchDatabase, count: (Int, Int))? {
        guard let base = databaseURL ?? ProcessInfo.processInfo.environment["SUNDIAL_DATABASE_URL"] else { return nil }
        let url = try BenchDatabase.url(base, database: name)
        let db = try Database(url: url, logger: BenchDatabase.logger)
        let tasks = try db.query("SELECT COUNT(*) AS n FROM cron", consistency: .primary).first?["n"].int ?? 0
        let runs = try db.query("SELECT COUNT(*) AS n FROM cron_run", consistency: .primary).first?["n"].int ?? 0
        return (BenchDatabase(name: name, url: url, db: db), (tasks, runs))
    }

    /// Tasks of every status, some tagged, some failing, due over the next day; runs spread over
    /// the last `runs` seconds (about four months at 10 M), newest last as the recorder writes
    /// them, one in fifty failed, the latest few still running.
    private func fill(_ bench: BenchDatabase) throws {
        try bench.db.execute(
            """
            INSERT INTO cron (name, action, payload, schedule, next_run, fire_at, status, tags, failing) \
            SELECT CONCAT('t-', seq), IF(seq % 3 = 0, 'shell', 'noop'), IF(seq % 3 = 0, '{"command":"true"}', NULL), \
            '*/5 * * * *', NOW(6) + INTERVAL (seq % 86400) SECOND, NOW(6) + INTERVAL (seq % 86400) SECOND, \
            ELT(1 + seq % 10, 'active', 'active', 'active', 'active', 'active', 'active', 'paused', 'done', 'invalid', 'dead'), \
            IF(seq % 7 = 0, 'etl,nightly', NULL), seq % 997 = 0 FROM seq_1_to_\(tasks)
            """)
        let chunk = 500_000
        var from = 1
        while from <= runs {
            let to = min(runs, from + chunk - 1)
            try bench.db.execute(
                """
                INSERT INTO cron_run (cron_id, scheduled_for, attempt, executor, task_id, started_at, finished_at, status, \
                exit_code, output) SELECT 1 + seq % \(tasks), NOW(6) - INTERVAL (\(runs) - seq) SECOND, 0, \
                CONCAT('host-', seq % 8, ':1'), 1, NOW(6) - INTERVAL (\(runs) - seq) SECOND + INTERVAL 0.05 SECOND, \
                IF(seq > \(runs - 20), NULL, NOW(6) - INTERVAL (\(runs) - seq) SECOND + INTERVAL 1 SECOND), \
                IF(seq > \(runs - 20), 'running', IF(seq % 50 = 0, 'failed', 'succeeded')), IF(seq % 50 = 0, 1, 0), \
                IF(seq % 10 = 0, CONCAT('line ', seq, '\\n'), NULL) FROM seq_\(from)_to_\(to)
                """)
            from = to + 1
        }
        for table in ["cron", "cron_run"] { _ = try bench.db.query("ANALYZE TABLE \(table)", consistency: .primary) }
    }
}
