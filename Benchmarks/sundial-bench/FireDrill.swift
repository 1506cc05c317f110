import ArgumentParser
import Foundation
import Logging
import SundialMySQL
import SundialTesting

/// The shared body of the precision, kill -9 and database-restart scenarios: `tasks` rows firing
/// every second (`* * * * * *`) with the `witness` action, run by executor processes for
/// `seconds`, while the scenario disrupts them; then every fire in the window is accounted for
/// from the witness file, not from Sundial's own bookkeeping.
final class FireDrill {
    let tasks: Int
    let seconds: Int
    let bench: BenchDatabase
    let fleet: ExecutorFleet
    var directory: URL { fleet.logDirectory }
    var witnessPath: String { directory.appendingPathComponent("witness.log").path }
    /// The first scheduled second, Unix µs.
    private(set) var firstFire: Int64 = 0
    private(set) var taskIDs: Set<Int64> = []

    var window: Range<Int64> { firstFire..<(firstFire + Int64(seconds) * 1_000_000) }

    init(
        name: String, tasks: Int, seconds: Int, executorArguments: [String], baseURL: String?,
        servesMetrics: Bool = false
    ) throws {
        self.tasks = tasks
        self.seconds = seconds
        bench = try BenchDatabase.create(named: "sundial_bench_\(name)", baseURL: baseURL)
        fleet = try ExecutorFleet(
            scenario: name, databaseURL: bench.url, arguments: executorArguments, servesMetrics: servesMetrics)
    }

    /// Inserts the tasks, first due on a whole second a few seconds ahead (database time).
    /// `misfirePolicy` and `delivery` give the policy and delivery of task number `n` (1-based).
    func insertTasks(
        misfirePolicy: (Int) -> String = { _ in "run_once" }, delivery: (Int) -> String = { _ in "at_least_once" }
    ) throws {
        let now =
            try bench.db.query("SELECT UNIX_TIMESTAMP(NOW(6)) AS now", consistency: .primary).first?["now"]
            .double ?? Date().timeIntervalSince1970
        firstFire = (Int64(now) + 3) * 1_000_000
        let first = Date(timeIntervalSince1970: Double(firstFire) / 1_000_000)
        let payload = "{\"file\":\"\(witnessPath)\"}"
        let groups = Dictionary(grouping: 1...tasks) { [misfirePolicy($0), delivery($0)] }
        for (settings, numbers) in groups {
            // Consecutive numbers insert as ranges of the sequence table.
            for range in numbers.consecutiveRanges() {
                try bench.db.execute(
                    """
                    INSERT INTO cron (name, action, payload, schedule, next_run, fire_at, misfire_policy, delivery) \
                    SELECT CONCAT('every-second-', seq), 'witness', ?, '* * * * * *', ?, ?, ?, ? \
                    FROM seq_\(range.lowerBound)_to_\(range.upperBound)
                    """,
                    [.string(payload), .date(first), .date(first), .string(settings[0]), .string(settings[1])])
            }
        }
        taskIDs = Set(
            try bench.db.query("SELECT id FROM cron", consistency: .primary).compactMap { $0["id"].int.map(Int64.init) }
        )
        guard taskIDs.count == tasks else { throw ValidationError("inserted \(taskIDs.count) of \(tasks) tasks") }
    }

    /// Waits for the first fire, calls `disrupt` with the seconds since it about every 100 ms
    /// until the window ends, then waits until every fire in the window has run (or `settle`
    /// passes) and stops the executors. Returns the slots that did not exit cleanly.
    func run(
        settle: TimeInterval = 60, disrupt: (Double) throws -> Void = { _ in }, beforeStop: () throws -> Void = {}
    ) throws -> [Int] {
        let end = firstFire + Int64(seconds) * 1_000_000
        while Clock.unixMicroseconds() < end {
            let elapsed = Double(Clock.unixMicroseconds() - firstFire) / 1_000_000
            if elapsed >= 0 { try disrupt(elapsed) }
            usleep(100_000)
        }
        let deadline = Date().addingTimeInterval(settle)
        while Date() < deadline {
            let behind = try? bench.db.count(
                "SELECT COUNT(*) FROM cron WHERE status = 'active' AND next_run < FROM_UNIXTIME(\(Double(end) / 1_000_000))"
            )
            if behind == 0 { break }
            usleep(200_000)
        }
        try beforeStop()
        return fleet.stopAll()
    }

    /// Pauses every task, waits for the runs in flight to be written and a heartbeat to pass, and
    /// compares the executors' `sundial_runs_total` with `cron_run`. Returns a line to print, and
    /// whether they are the same.
    func metricsAgainstHistory(sampledDuring samples: [Int]) throws -> (line: String, matched: Bool) {
        // Beside busy executors the update may meet a deadlock: it is simply tried again.
        var paused = false
        for _ in 1...10 where !paused {
            paused = (try? bench.db.execute("UPDATE cron SET status = 'paused'")) != nil
            if !paused { usleep(100_000) }
        }
        if !paused { try bench.db.execute("UPDATE cron SET status = 'paused'") }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline,
            try bench.db.count(
                "SELECT (SELECT COUNT(*) FROM cron WHERE task_id IS NOT NULL) + (SELECT COUNT(*) FROM cron_run WHERE status = 'running')"
            ) > 0
        {
            usleep(100_000)
        }
        Thread.sleep(forTimeInterval: 2.5)
        let exported = try fleet.metricTotal("sundial_runs_total")
        let recorded = try bench.db.count("SELECT COUNT(*) FROM cron_run")
        let line =
            "/metrics: sundial_runs_total during the window: \(samples.map(String.init).joined(separator: ", ")); at the end \(exported), cron_run rows \(recorded): \(exported == recorded ? "the same" : "DIFFERENT")"
        return (line, exported == recorded)
    }

    func account() throws -> FireAccount {
        FireAccount(
            executions: try WitnessLog.read(witnessPath), taskIDs: taskIDs, window: window,
            killedPIDs: Set(fleet.killed.map(\.pid)))
    }
}

extension Array where Element == Int {
    /// [1, 2, 3, 7, 8] → [1...3, 7...8]
    func consecutiveRanges() -> [ClosedRange<Int>] {
        var ranges: [ClosedRange<Int>] = []
        for n in sorted() {
            if let last = ranges.last, last.upperBound + 1 == n {
                ranges[ranges.count - 1] = last.lowerBound...n
            } else {
                ranges.append(n...n)
            }
        }
        return ranges
    }
}
