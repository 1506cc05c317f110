import ArgumentParser
import Foundation

/// Scenario: a rolling deploy. Under the precision load, one executor after the other is
/// stopped with SIGTERM (as a deploy does) every `every` seconds and a new one started in its
/// place, `restarts` times; then all of them are stopped. Every fire must run once, every
/// process exit 0, and nothing stay claimed once they are gone.
struct RollingDeployDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rolling",
        abstract:
            "SIGTERM and replace an executor every 3 s, 12 times, under the precision load: nothing lost or left claimed."
    )

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds between restarts.") var every = 3.0
    @Option(help: "Restarts.") var restarts = 12

    func run() throws {
        let drill = try self.drill.makeDrill(name: "rolling")
        let executors = self.drill.executors
        for slot in 0..<executors { try drill.fleet.start(slot) }
        try drill.insertTasks(misfirePolicy: { _ in "run_all" })
        var nextRestart = every
        var done = 0
        var unclean: [Int32] = []
        let crashed = try drill.run { elapsed in
            guard elapsed >= nextRestart, done < restarts else { return }
            let slot = done % executors
            let status = drill.fleet.terminate(slot)
            if status != 0 { unclean.append(status) }
            try drill.fleet.start(slot)
            done += 1
            nextRestart += every
        }
        let stillClaimed = try drill.bench.db.count("SELECT COUNT(*) FROM cron WHERE task_id IS NOT NULL")
        let stillRunning = try drill.bench.db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'")
        let account = try drill.account()
        let pass =
            account.lost == 0 && account.duplicates == 0 && crashed.isEmpty && unclean.isEmpty && stillClaimed == 0
            && stillRunning == 0 && done == restarts
        print(
            "rolling: \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second for \(drill.seconds) s, \(done) SIGTERM-and-replace restarts every \(every) s, then all stopped: lost \(account.lost) of \(account.expected), duplicates \(account.duplicates); exits other than 0: \(unclean.count + crashed.count); rows still claimed after every executor exited: \(stillClaimed), runs still 'running': \(stillRunning); \(account.lagSummary), \(account.lateBeyondOneSecond) fires more than 1 s late"
        )
        if !pass { throw ExitCode(1) }
    }
}
