import ArgumentParser
import Foundation
import Logging
import SundialCore
import SundialExecutor
import SundialMySQL
import SundialMySQLStore
import SundialTesting

/// N `noop` one-shots inserted with one statement, drained by E `sundial executor` processes;
/// against the same claim and bookkeeping statements run by a plain loop, in the same run.
struct DrainBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain", abstract: "Executions per second draining one-shot noop tasks.")

    @Option(help: "Tasks to drain.") var tasks = 100_000
    @Option(help: "Executor processes.") var executors = 2
    @Option(help: "Threads per executor.") var threads = 8
    @Option(help: "Rows per claim (and the queue allowance).") var batch = 500
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL); a scratch database is made beside it.")
    var databaseURL: String?

    func run() throws {
        let bench = try BenchDatabase.create(named: "sundial_bench_drain", baseURL: databaseURL)
        defer { bench.db.close() }

        let plain = try plainLoop(bench)
        let (rate, seconds, duplicates, missed) = try withExecutors(bench)
        print(
            "drain: \(duplicates == 0 && missed == 0 ? "PASS" : "FAIL") \(tasks) noop one-shots, \(executors) executors × \(threads) threads: \(Int(rate)) executions/s (\(String(format: "%.2f", seconds)) s), duplicates \(duplicates), missed \(missed); plain claim loop (\(executors) threads, same statements): \(Int(plain)) /s; executor/plain = \(String(format: "%.2f", rate / plain))"
        )
        if duplicates != 0 || missed != 0 { throw ExitCode(1) }
    }

    private func insertTasks(_ bench: BenchDatabase) throws {
        try bench.db.execute("DELETE FROM cron")
        try bench.db.execute("DELETE FROM cron_run")
        try bench.db.execute(
            "INSERT INTO cron (name, action) SELECT CONCAT('noop-', seq), 'noop' FROM seq_1_to_\(tasks)")
    }

    /// The ceiling: claim, then record each run and release its row through the group committer,
    /// with no pool, no idle queue, no handler.
    private func plainLoop(_ bench: BenchDatabase) throws -> Double {
        try insertTasks(bench)
        let store = MySQLStore(database: bench.db, logger: BenchDatabase.logger)
        let clock = ContinuousClock()
        let start = clock.now
        let group = DispatchGroup()
        for i in 0..<executors {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                let recorder = RunRecorder(store: store, logger: BenchDatabase.logger)
                recorder.start()
                let executor = "plain-\(i)"
                let actions = ["noop"]
                while let claim = try? store.claim(
                    ClaimRequest(
                        token: .random(), executor: executor, actions: actions, tags: [], limit: batch, lookahead: .zero
                    )),
                    !claim.rows.isEmpty, let now = try? store.now()
                {
                    for row in claim.rows {
                        let record = RunRecord(
                            taskID: row.id, token: claim.token, scheduledFor: now, attempt: 0, executor: executor,
                            startedAt: now, finishedAt: now, status: .succeeded)
                        recorder.runFinished(
                            FinishedRun(
                                run: record,
                                row: RowFinish(
                                    claim: Claim(taskID: row.id, token: claim.token),
                                    plan: .init(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: nil),
                                    claimed: ClaimedState(row))))
                    }
                }
                recorder.stop()
            }
            thread.start()
        }
        group.wait()
        let elapsed = clock.now - start
        let done = try bench.db.count("SELECT COUNT(*) FROM cron WHERE status = 'done'")
        guard done == tasks else { throw ValidationError("the plain loop finished only \(done) of \(tasks) tasks") }
        return Double(tasks) / elapsed.seconds
    }

    private func withExecutors(_ bench: BenchDatabase) throws -> (Double, Double, Int, Int) {
        try bench.db.execute("DELETE FROM cron")
        try bench.db.execute("DELETE FROM cron_run")
        let fleet = try ExecutorFleet(
            scenario: "drain", databaseURL: bench.url,
            arguments: [
                "--threads", String(threads), "--batch", String(batch), "--queue-allowance", String(batch),
                "--poll-interval", "0.02",
            ])
        for slot in 0..<executors { try fleet.start(slot) }
        defer { fleet.stopAll() }
        usleep(1_000_000)
        // Timed from the moment the rows exist: the executors are up and polling.
        try bench.db.execute(
            "INSERT INTO cron (name, action) SELECT CONCAT('noop-', seq), 'noop' FROM seq_1_to_\(tasks)")
        let clock = ContinuousClock()
        let start = clock.now
        var finished = false
        // Done when no row is free and active, and none is claimed: two index lookups, so that
        // watching costs the database next to nothing (a COUNT(*) every few ms would not).
        while clock.now - start < .seconds(600) {
            let waiting = try bench.db.query(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM cron WHERE task_id IS NULL AND status = 'active' LIMIT 1) a) + (SELECT COUNT(*) FROM (SELECT 1 FROM cron WHERE task_id IS NOT NULL LIMIT 1) b) AS n",
                consistency: .primary
            ).first?["n"].int
            if waiting == 0 {
                finished = true
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        let elapsed = clock.now - start
        guard finished else { throw ValidationError("the executors did not drain \(tasks) tasks within 600 s") }
        let failed = fleet.stopAll()
        guard failed.isEmpty else { throw ValidationError("executors \(failed) did not stop cleanly") }
        let runs = try bench.db.count("SELECT COUNT(*) FROM cron_run")
        let distinct = try bench.db.count("SELECT COUNT(DISTINCT cron_id) FROM cron_run WHERE status = 'succeeded'")
        return (Double(tasks) / elapsed.seconds, elapsed.seconds, runs - distinct, tasks - distinct)
    }
}
