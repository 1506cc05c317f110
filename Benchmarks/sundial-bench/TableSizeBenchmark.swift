import ArgumentParser
import Foundation
import Logging
import SundialExecutor
import SundialMySQL

/// Scenario 3: claim latency and drain rate with 10 k, 100 k and 1 M rows in `cron`, most of
/// them not due: both must cost O(batch), not O(table).
struct TableSizeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table-size", abstract: "Claim latency and drain rate with 10 k, 100 k and 1 M rows in cron.")

    @Option(help: "Table sizes, comma-separated.") var rows = "10000,100000,1000000"
    @Option(help: "Rows due among them.") var due = 5000
    @Option(help: "Rows per timed claim.") var batch = 100
    @Option(help: "Claims timed per size.") var claims = 40
    @Option(help: "Executor processes for the drain.") var executors = 2
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    struct Result {
        var size: Int
        var claimMedian: Double
        var claimP90: Double
        var drainRate: Double
    }

    func run() throws {
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        var results: [Result] = []
        for size in rows.split(separator: ",").compactMap({ Int($0) }) {
            results.append(try measure(size: size, logger: logger))
            let r = results.last!
            print(
                "table-size: \(size) rows, \(due) due: claim of \(batch) median \(ms(r.claimMedian)), p90 \(ms(r.claimP90)); drain \(Int(r.drainRate)) runs/s"
            )
        }
        guard let small = results.first, let large = results.last, results.count > 1 else { return }
        let claimRatio = large.claimMedian / small.claimMedian
        let drainRatio = small.drainRate / large.drainRate
        let met = claimRatio <= 2 && drainRatio <= 2
        print(
            "table-size: PASS claim median \(ms(small.claimMedian)) at \(small.size) rows, \(ms(large.claimMedian)) at \(large.size) (\(String(format: "%.2f", claimRatio))×); drain \(Int(small.drainRate))/s and \(Int(large.drainRate))/s (\(String(format: "%.2f", drainRatio))× slower); target within 2× \(met ? "met" : "MISSED")"
        )
    }

    private func measure(size: Int, logger: Logger) throws -> Result {
        let bench = try BenchDatabase.create(named: "sundial_bench_table", baseURL: databaseURL, logger: logger)
        defer { bench.db.close() }
        // One-shots spread over the next 30 days; `due` of them are made due below.
        try bench.db.execute(
            "INSERT INTO cron (name, action, next_run, fire_at) SELECT CONCAT('r-', seq), 'noop', NOW(6) + INTERVAL (1 + seq % 43200) MINUTE, NULL FROM seq_1_to_\(size)"
        )
        try bench.db.execute("ANALYZE TABLE cron")
        let makeDue = "UPDATE cron SET next_run = NOW(6) - INTERVAL 1 SECOND WHERE id <= \(due)"

        // Claim latency: one client, nothing else running.
        try bench.db.execute(makeDue)
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
        try bench.db.execute(
            "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE task_id IS NOT NULL")
        try bench.db.execute("UPDATE cron SET next_run = NOW(6) + INTERVAL 1 DAY WHERE id <= \(due)")

        // Drain rate: executors already running when the rows fall due.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-bench-table-\(getpid())")
        let fleet = try ExecutorFleet(databaseURL: bench.url, arguments: [], logDirectory: directory)
        for slot in 0..<executors { try fleet.start(slot) }
        defer { fleet.stopAll() }
        usleep(1_500_000)
        try bench.db.execute(makeDue)
        let start = clock.now
        while try bench.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") < due {
            guard clock.now - start < .seconds(120) else { throw ValidationError("\(due) due rows not run in 120 s") }
            usleep(10_000)
        }
        let rate = Double(due) / (clock.now - start).seconds
        return Result(
            size: size, claimMedian: latencies.percentile(0.5), claimP90: latencies.percentile(0.9), drainRate: rate)
    }
}
