import ArgumentParser
import Foundation
import Logging
import SundialCore
import SundialExecutor
import SundialMySQL
import SundialMySQLStore

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
        let sizes = rows.split(separator: ",").compactMap { Int($0) }
        // One scratch database per size, filled first, so that claims can be timed in turns
        // across the sizes: the machine's slow moments then fall on every size alike.
        let benches = try sizes.map { size in
            let bench = try BenchDatabase.create(named: "sundial_bench_table_\(size)", baseURL: databaseURL)
            try fill(bench, size: size)
            return bench
        }
        defer { benches.forEach { $0.db.close() } }
        var latencies = Array(repeating: [Double](), count: sizes.count)
        let clock = ContinuousClock()
        for _ in 0..<claims {
            for (i, bench) in benches.enumerated() {
                let store = MySQLStore(database: bench.db, logger: BenchDatabase.logger)
                let start = clock.now
                let claim = try store.claim(
                    ClaimRequest(
                        token: .random(), executor: "bench", actions: ["noop"], tags: [], limit: batch,
                        lookahead: .zero))
                latencies[i].append((clock.now - start).seconds * 1000)
                guard claim.rows.count == batch else {
                    throw ValidationError("a claim found fewer than \(batch) due rows")
                }
            }
        }
        var results: [Result] = []
        for (i, bench) in benches.enumerated() {
            let rate = try drainRate(bench)
            results.append(
                Result(
                    size: sizes[i], claimMedian: latencies[i].percentile(0.5), claimP90: latencies[i].percentile(0.9),
                    drainRate: rate))
            let r = results.last!
            print(
                "table-size: \(r.size) rows, \(due) due: claim of \(batch) median \(ms(r.claimMedian)), p90 \(ms(r.claimP90)); drain \(Int(r.drainRate)) runs/s"
            )
        }
        guard let small = results.first, let large = results.last, results.count > 1 else { return }
        let claimRatio = large.claimMedian / small.claimMedian
        let drainRatio = small.drainRate / large.drainRate
        let met = claimRatio <= 1.2 && drainRatio <= 2
        print(
            "table-size: PASS claim median \(ms(small.claimMedian)) at \(small.size) rows, \(ms(large.claimMedian)) at \(large.size) (\(String(format: "%.2f", claimRatio))×); drain \(Int(small.drainRate))/s and \(Int(large.drainRate))/s (\(String(format: "%.2f", drainRatio))× slower); target claim within 1.2×, drain within 2× \(met ? "met" : "MISSED")"
        )
    }

    /// `size` one-shots spread over the next 30 days, `due` of them due now.
    private func fill(_ bench: BenchDatabase, size: Int) throws {
        try bench.db.execute(
            "INSERT INTO cron (name, action, next_run) SELECT CONCAT('r-', seq), 'noop', NOW(6) + INTERVAL (1 + seq % 43200) MINUTE FROM seq_1_to_\(size)"
        )
        try bench.db.execute("ANALYZE TABLE cron")
        try bench.db.execute("UPDATE cron SET next_run = NOW(6) - INTERVAL 1 SECOND WHERE id <= \(due)")
    }

    /// Executors already running when `due` rows fall due: runs per second until all have run.
    private func drainRate(_ bench: BenchDatabase) throws -> Double {
        try bench.db.execute(
            "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE task_id IS NOT NULL")
        try bench.db.execute("UPDATE cron SET next_run = NOW(6) + INTERVAL 1 DAY WHERE id <= \(due)")
        let fleet = try ExecutorFleet(scenario: "table-size", databaseURL: bench.url)
        for slot in 0..<executors { try fleet.start(slot) }
        defer { fleet.stopAll() }
        usleep(1_500_000)
        try bench.db.execute("UPDATE cron SET next_run = NOW(6) - INTERVAL 1 SECOND WHERE id <= \(due)")
        let took = try bench.wait(
            until: "SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'", reaches: due, within: .seconds(120),
            "\(due) due rows")
        return Double(due) / took.seconds
    }
}
