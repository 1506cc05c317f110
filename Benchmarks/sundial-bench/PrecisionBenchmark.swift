import ArgumentParser
import Foundation
import Logging

/// Scenario 2: many tasks every second on two executors: how late does each fire start, and is
/// any fire missed, doubled or started early.
struct PrecisionBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "precision", abstract: "Start lag of tasks firing every second (target p50 ≤ 5 ms, p99 ≤ 10 ms).")

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds between scrapes of /metrics during the window (0: none, only the check at the end).")
    var scrapeEvery = 10

    func run() throws {
        let drill = try self.drill.makeDrill(name: "precision", servesMetrics: true)
        for slot in 0..<self.drill.executors { try drill.fleet.start(slot) }
        try drill.insertTasks()
        // /metrics every 10 s, as a Prometheus server would scrape it: the counters move.
        var samples: [Int] = []
        var metrics = (line: "", matched: false)
        let crashed = try drill.run(
            disrupt: { elapsed in
                if elapsed >= Double(samples.count * 10) {
                    samples.append(try drill.fleet.metricTotal("sundial_runs_total"))
                }
            },
            beforeStop: { metrics = try drill.metricsAgainstHistory(sampledDuring: samples) })
        print(metrics.line)
        let executions = try WitnessLog.read(drill.witnessPath)
        let account = try drill.account()
        // The first fire of tasks that never ran is claimed cautiously (their cost is unknown):
        // shown apart from the fires of tasks with a history.
        let window = drill.window
        let first = FireAccount(
            executions: executions, taskIDs: drill.taskIDs, window: window.lowerBound..<(window.lowerBound + 1_000_000))
        let steady = FireAccount(
            executions: executions, taskIDs: drill.taskIDs, window: (window.lowerBound + 1_000_000)..<window.upperBound)
        let met = steady.percentile(0.5) <= 5 && steady.percentile(0.99) <= 10
        let pass =
            account.lost == 0 && account.duplicates == 0 && account.early == 0 && crashed.isEmpty && metrics.matched
        print(
            "precision: \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second for \(drill.seconds) s on \(self.drill.executors) executors: \(steady.lagSummary) (all fires: p99 \(ms(account.percentile(0.99))), max \(ms(account.lags.last ?? .nan)); first fire of the new tasks: p50 \(ms(first.percentile(0.5))), max \(ms(first.lags.last ?? .nan))); \(account.executed) of \(account.expected) fires ran, missed \(account.lost), duplicates \(account.duplicates), early \(account.early)\(crashed.isEmpty ? "" : ", executors that failed: \(crashed)"); target p50 ≤ 5 ms, p99 ≤ 10 ms \(met ? "met" : "MISSED")"
        )
        if !pass { throw ExitCode(1) }
    }
}

/// Options shared by the drills that fire tasks every second.
struct DrillOptions: ParsableArguments {
    @Option(help: "Tasks firing every second.") var tasks = 2000
    @Option(help: "Seconds of fires counted.") var seconds = 60
    @Option(help: "Executor processes.") var executors = 2
    @Option(help: "More `sundial executor` flags, space-separated (e.g. \"--threads 16\").")
    var executorArguments = ""
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL); a scratch database is made beside it.")
    var databaseURL: String?

    /// `extraArguments`: flags the scenario itself needs, before the user's.
    func makeDrill(name: String, servesMetrics: Bool = false, extraArguments: [String] = []) throws -> FireDrill {
        try FireDrill(
            name: name, tasks: tasks, seconds: seconds,
            executorArguments: extraArguments + executorArguments.split(separator: " ").map(String.init),
            baseURL: databaseURL, servesMetrics: servesMetrics)
    }
}
