import ArgumentParser
import Foundation
import Logging
import SundialMySQL
import SundialTesting

/// N `noop` one-shots drained by E `sundial executor` processes, and the same rows drained by
/// the bare C claim loop (`Benchmarks/ceiling/claim_ceiling.c`: claim, read back, one run row,
/// finish the row, nothing else), alternating in one run. For each: executions per second,
/// the database server's CPU per execution, and its statement and handler counters per execution.
struct DrainBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drain",
        abstract: "Executions per second draining one-shot noop tasks, beside the bare C claim loop.")

    @Option(help: "Tasks to drain per round.") var tasks = 100_000
    @Option(help: "Rounds (each: the C ceiling, then the executors); medians are reported.") var rounds = 3
    @Option(help: "Executor processes.") var executors = 2
    @Option(help: "Extra arguments for every executor (default settings otherwise).") var executorArguments: [String] =
        []
    @Option(help: "C ceiling clients.") var ceilingClients = 4
    @Option(help: "C ceiling rows per claim.") var ceilingBatch = 200
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL); a scratch database is made beside it.")
    var databaseURL: String?

    struct Round {
        var rate: Double
        var cpuMicros: Double
        var counters: String
        /// What the executors' /metrics said while draining and after, beside cron_run.
        var metrics = ""
        var metricsMatch = true
    }

    func run() throws {
        let bench = try BenchDatabase.create(named: "sundial_bench_drain", baseURL: databaseURL)
        defer { bench.db.close() }
        let probe = try ServerProbe(bench.db)
        let ceiling = try buildCeiling()
        var sundial: [Round] = []
        var bare: [Round] = []
        var duplicates = 0
        var missed = 0
        var metricsMatched = true
        for round in 1...rounds {
            let c = try ceilingRound(bench, probe: probe, binary: ceiling)
            bare.append(c)
            let (s, dup, miss) = try executorRound(bench, probe: probe)
            sundial.append(s)
            metricsMatched = metricsMatched && s.metricsMatch
            (duplicates, missed) = (duplicates + dup, missed + miss)
            print(
                "round \(round): sundial \(Int(s.rate))/s, \(Int(s.cpuMicros)) µs server CPU/execution; C ceiling \(Int(c.rate))/s, \(Int(c.cpuMicros)) µs"
            )
            print("  sundial per execution: \(s.counters)")
            print("  /metrics: \(s.metrics)")
            print("  ceiling per execution: \(c.counters)")
        }
        let rate = sundial.map(\.rate).median
        let cpu = sundial.map(\.cpuMicros).median
        let ceilingRate = bare.map(\.rate).median
        let ceilingCPU = bare.map(\.cpuMicros).median
        let passed = duplicates == 0 && missed == 0 && metricsMatched
        print(
            "drain: \(passed ? "PASS" : "FAIL") \(tasks) noop one-shots × \(rounds) rounds, \(executors) executors (\(executorArguments.isEmpty ? "default settings" : executorArguments.joined(separator: " "))): \(Int(rate)) executions/s, \(Int(cpu)) µs server CPU each; C ceiling (\(ceilingClients) clients × \(ceilingBatch)): \(Int(ceilingRate))/s, \(Int(ceilingCPU)) µs; ratio \(String(format: "%.2f", rate / ceilingRate))×, server CPU \(String(format: "%.2f", cpu / ceilingCPU))× (medians); duplicates \(duplicates), missed \(missed); /metrics \(metricsMatched ? "matched" : "DID NOT MATCH") cron_run"
        )
        if !passed { throw ExitCode(1) }
    }

    /// The same due rows for both: `next_run` set, as the ceiling's claim needs.
    private func insertTasks(_ bench: BenchDatabase) throws {
        try bench.db.execute("TRUNCATE TABLE cron_run")
        try bench.db.execute("DELETE FROM cron")
        try bench.db.execute(
            "INSERT INTO cron (name, action, next_run, fire_at) SELECT CONCAT('noop-', seq), 'noop', NOW(6) - INTERVAL 1 SECOND, NOW(6) - INTERVAL 1 SECOND FROM seq_1_to_\(tasks)"
        )
    }

    private func buildCeiling() throws -> String {
        let source = URL(fileURLWithPath: "Benchmarks/ceiling/claim_ceiling.c")
        guard FileManager.default.fileExists(atPath: source.path) else {
            throw ValidationError("run from the repository's root: \(source.path) is missing")
        }
        let binary = NSTemporaryDirectory() + "sundial-claim-ceiling-\(getpid())"
        try ChildProcess.run(
            [
                "/bin/sh", "-c",
                "cc -O2 \(source.path) $(pkg-config --cflags --libs libmariadb) -lpthread -o \(binary)",
            ], log: binary + ".log")
        return binary
    }

    private func ceilingRound(_ bench: BenchDatabase, probe: ServerProbe, binary: String) throws -> Round {
        try insertTasks(bench)
        let endpoint = try MySQLEndpoint(url: bench.url)
        guard let socket = endpoint.socket else { throw ValidationError("the C ceiling needs a socket URL") }
        let log = binary + ".log"
        let before = try probe.read()
        let clock = ContinuousClock()
        let start = clock.now
        try ChildProcess.run(
            [
                binary, socket, endpoint.database, String(ceilingClients), String(ceilingBatch), endpoint.user,
                endpoint.password,
            ], log: log)
        let elapsed = clock.now - start
        let after = try probe.read()
        let done = try bench.db.count("SELECT COUNT(*) FROM cron WHERE status = 'done'")
        guard done == tasks else { throw ValidationError("the C ceiling finished only \(done) of \(tasks) tasks") }
        let (cpu, counters) = ServerProbe.perExecution(from: before, to: after, executions: tasks)
        return Round(rate: Double(tasks) / elapsed.seconds, cpuMicros: cpu, counters: counters)
    }

    private func executorRound(_ bench: BenchDatabase, probe: ServerProbe) throws -> (Round, Int, Int) {
        try bench.db.execute("TRUNCATE TABLE cron_run")
        try bench.db.execute("DELETE FROM cron")
        let fleet = try ExecutorFleet(
            scenario: "drain", databaseURL: bench.url, arguments: executorArguments, servesMetrics: true)
        for slot in 0..<executors { try fleet.start(slot) }
        defer { fleet.stopAll() }
        usleep(1_000_000)
        // Timed, and the server measured, from the moment the rows exist (the statement that
        // inserts them is not the executors' work): the executors are up and polling.
        try bench.db.execute(
            "INSERT INTO cron (name, action, next_run, fire_at) SELECT CONCAT('noop-', seq), 'noop', NOW(6) - INTERVAL 1 SECOND, NOW(6) - INTERVAL 1 SECOND FROM seq_1_to_\(tasks)"
        )
        let before = try probe.read()
        let clock = ContinuousClock()
        let start = clock.now
        var finished = false
        var duringDrain: [Int] = []
        var nextScrape = start + .seconds(1)
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
            // /metrics once a second: the counters move while the table drains.
            if clock.now >= nextScrape {
                duringDrain.append(try fleet.metricTotal("sundial_runs_total"))
                nextScrape = clock.now + .seconds(1)
            }
            // Every 50 ms: the watching is the benchmark's cost, measured with the executors'.
            Thread.sleep(forTimeInterval: 0.05)
        }
        let elapsed = clock.now - start
        let after = try probe.read()
        guard finished else { throw ValidationError("the executors did not drain \(tasks) tasks within 600 s") }
        // Metrics reach /metrics at the next heartbeat; the last results are written by then too.
        Thread.sleep(forTimeInterval: 2.5)
        let exported = try fleet.metricTotal("sundial_runs_total")
        let recorded = try bench.db.count("SELECT COUNT(*) FROM cron_run")
        let failed = fleet.stopAll()
        guard failed.isEmpty else { throw ValidationError("executors \(failed) did not stop cleanly") }
        let runs = try bench.db.count("SELECT COUNT(*) FROM cron_run")
        let distinct = try bench.db.count("SELECT COUNT(DISTINCT cron_id) FROM cron_run WHERE status = 'succeeded'")
        let (cpu, counters) = ServerProbe.perExecution(from: before, to: after, executions: tasks)
        let metrics =
            "sundial_runs_total every second while draining: \(duringDrain.map(String.init).joined(separator: ", ")); after: \(exported), cron_run rows: \(recorded)"
        return (
            Round(
                rate: Double(tasks) / elapsed.seconds, cpuMicros: cpu, counters: counters, metrics: metrics,
                metricsMatch: exported == recorded && exported == tasks),
            runs - distinct, tasks - distinct
        )
    }
}
