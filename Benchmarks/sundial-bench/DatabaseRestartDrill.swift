import ArgumentParser
import Foundation
import SundialTesting

/// Scenario 6: the development primary is shut down for a few seconds under load and started
/// again. Executors must reconnect on their own; `run_all` tasks run every fire, `run_once`
/// tasks run one catch-up fire for the ones missed.
struct DatabaseRestartDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db-restart",
        abstract: "Stop the dev primary for 5 s under load: executors reconnect, nothing is lost.")

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds after the first fire when the database stops.") var stopAt = 10.0
    @Option(help: "Seconds the database stays down before it is started again.") var downFor = 5.0

    func run() throws {
        let drill = try self.drill.makeDrill(name: "restart")
        let executors = self.drill.executors
        for slot in 0..<executors { try drill.fleet.start(slot) }
        try drill.insertTasks(misfirePolicy: { $0 % 2 == 1 ? "run_all" : "run_once" })
        let runAll = Set(
            try drill.bench.db.query("SELECT id FROM cron WHERE misfire_policy = 'run_all'", consistency: .primary)
                .compactMap { $0["id"].int.map(Int64.init) })
        let log = drill.directory.appendingPathComponent("devdb.log").path
        var outage: (from: Int64, to: Int64)?
        let crashed = try drill.run { elapsed in
            guard outage == nil, elapsed >= stopAt else { return }
            let from = Clock.unixMicroseconds()
            try ChildProcess.run(["deploy/dev/devdb", "stop", "primary"], log: log)
            usleep(UInt32(downFor * 1_000_000))
            try ChildProcess.run(["deploy/dev/devdb", "start", "primary"], log: log)
            outage = (from, Clock.unixMicroseconds())
        }
        guard let outage else { throw ValidationError("the database was never stopped") }
        let executions = try WitnessLog.read(drill.witnessPath)
        let all = FireAccount(executions: executions, taskIDs: runAll, window: drill.window)
        let once = FireAccount(
            executions: executions, taskIDs: drill.taskIDs.subtracting(runAll), window: drill.window)
        // run_once: each task must have run at least once after the database came back.
        let caughtUp = Set(
            executions.filter { $0.started >= outage.to && !runAll.contains($0.task) }.map(\.task)
        ).count
        let fenced = drill.fleet.selfFences
        let pass =
            all.lost == 0 && all.duplicates == 0 && once.duplicates == 0 && crashed.isEmpty
            && caughtUp == drill.tasks - runAll.count
        let seconds = Double(outage.to - outage.from) / 1_000_000
        print(
            "db-restart: \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second on \(executors) executors, database down \(String(format: "%.1f", seconds)) s (stopped, \(Int(downFor)) s, started): executors \(crashed.isEmpty ? "all kept running and reconnected" : "FAILED: \(crashed)"), \(fenced) self-fenced; run_all: \(all.executed) of \(all.expected) fires ran (lost \(all.lost), duplicates \(all.duplicates)), \(all.lateBeyondOneSecond) more than 1 s late, max lag \(ms(all.lags.last ?? .nan)); run_once: \(once.lost) missed fires folded into catch-up runs, \(caughtUp) of \(drill.tasks - runAll.count) tasks ran again after the restart, duplicates \(once.duplicates)"
        )
        if !pass { throw ExitCode(1) }
    }
}
