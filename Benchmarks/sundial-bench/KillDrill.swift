import ArgumentParser
import Foundation

/// Scenario 5: the precision load while one executor is killed with SIGKILL every `every`
/// seconds and started again. With `at_least_once` and `run_all`, every fire must still run.
struct KillDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kill", abstract: "SIGKILL an executor every 15 s under the precision load: nothing lost.")

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds between kills.") var every = 15.0

    func run() throws {
        let drill = try self.drill.makeDrill(name: "kill")
        let executors = self.drill.executors
        for slot in 0..<executors { try drill.fleet.start(slot) }
        // run_all: fires missed while a dead executor's rows wait for its lease to run out run late, not never.
        try drill.insertTasks(misfirePolicy: { _ in "run_all" })
        var nextKill = every
        var kills = 0
        let crashed = try drill.run { elapsed in
            guard elapsed >= nextKill else { return }
            let slot = kills % executors
            drill.fleet.kill(slot)
            try drill.fleet.start(slot)
            kills += 1
            nextKill += every
        }
        let executions = try WitnessLog.read(drill.witnessPath)
        let account = try drill.account()
        let recoveries = drill.fleet.killed.map { recovery(after: $0, executions) }
        let pass = account.lost == 0 && account.duplicates == 0 && crashed.isEmpty
        let recovered = recoveries.map { String(format: "%.1f s", $0) }.joined(separator: ", ")
        print(
            "kill: \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second for \(drill.seconds) s, \(kills) SIGKILLs: lost \(account.lost) of \(account.expected), duplicates \(account.duplicates) (and \(account.rerunsAfterKill) fires the killed executor had started run again, as at_least_once promises); the killed executor's tasks ran again after \(recovered) (lease 10 s); \(account.lagSummary), \(account.lateBeyondOneSecond) fires more than 1 s late"
        )
        if !pass { throw ExitCode(1) }
    }

    /// Seconds from the kill until every task the killed process had been running fired again
    /// somewhere else.
    private func recovery(after kill: (pid: pid_t, at: Int64), _ executions: [Execution]) -> Double {
        var lastBefore: [Int64: Execution] = [:]
        for e in executions where e.started < kill.at {
            if let seen = lastBefore[e.task], seen.started > e.started { continue }
            lastBefore[e.task] = e
        }
        let orphans = Set(lastBefore.values.filter { $0.pid == kill.pid }.map(\.task))
        var firstAfter: [Int64: Int64] = [:]
        for e in executions where e.started >= kill.at && orphans.contains(e.task) && e.pid != kill.pid {
            firstAfter[e.task] = min(firstAfter[e.task] ?? .max, e.started)
        }
        // It ran nothing whose next fire was not someone else's anyway: nothing to take over.
        if orphans.isEmpty { return 0 }
        guard firstAfter.count == orphans.count, let last = firstAfter.values.max() else {
            FileHandle.standardError.write(
                Data(
                    "kill of \(kill.pid) at \(kill.at): \(orphans.count) tasks it ran last, \(firstAfter.count) ran again elsewhere\n"
                        .utf8))
            return .infinity
        }
        return Double(last - kill.at) / 1_000_000
    }
}
