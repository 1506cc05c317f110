import ArgumentParser
import Foundation
import Logging
import SundialExecutor
import SundialMySQL

/// Claim latency with the `cron` table at different sizes, most rows not due: the claim must cost
/// O(batch), not O(table).
struct ClaimBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claim", abstract: "Claim latency with 10 k and 1 M rows in cron.")

    @Option(help: "Table sizes, comma-separated.") var rows = "10000,1000000"
    @Option(help: "Due rows among them.") var due = 5000
    @Option(help: "Rows per claim.") var batch = 100
    @Option(help: "Claims timed per size.") var claims = 40
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        var medians: [(Int, Double)] = []
        for size in rows.split(separator: ",").compactMap({ Int($0) }) {
            let bench = try BenchDatabase.create(named: "sundial_bench_claim", baseURL: databaseURL, logger: logger)
            defer { bench.db.close() }
            // Most rows due in the next 30 days; `due` of them due now.
            try bench.db.execute(
                "INSERT INTO cron (name, action, next_run) SELECT CONCAT('r-', seq), 'noop', IF(seq <= ?, NOW(6) - INTERVAL 1 MINUTE, NOW(6) + INTERVAL (seq % 43200) MINUTE) FROM seq_1_to_\(size)",
                [.int(Int64(due))])
            try bench.db.execute("ANALYZE TABLE cron")
            let store = TaskStore(database: bench.db, logger: logger)
            var latencies: [Double] = []
            let clock = ContinuousClock()
            for _ in 0..<claims {
                let start = clock.now
                let claim = try store.claim(executor: "bench", tags: [], limit: batch, lookahead: .zero)
                latencies.append((clock.now - start).seconds * 1000)
                guard claim?.rows.count == batch else {
                    throw ValidationError("a claim found fewer than \(batch) due rows")
                }
            }
            latencies.sort()
            let median = latencies[latencies.count / 2]
            medians.append((size, median))
            print(
                "claim: \(size) rows in cron, \(due) due: claim of \(batch) (UPDATE + read back) median \(String(format: "%.2f", median)) ms, p90 \(String(format: "%.2f", latencies[latencies.count * 9 / 10])) ms"
            )
        }
        if let first = medians.first, let last = medians.last, medians.count > 1 {
            print("claim: \(last.0) rows vs \(first.0) rows: \(String(format: "%.2f", last.1 / first.1))× the latency")
        }
    }
}
