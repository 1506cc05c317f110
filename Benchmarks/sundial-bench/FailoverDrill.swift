import ArgumentParser
import Foundation

/// High availability 1: the precision load on a primary with a semi-synchronous replica; the
/// primary is killed (SIGKILL), the replica promoted 5 s later, and the old primary comes back
/// read-only. The executors know both hosts from one URL and must find the new primary by
/// themselves. Counted from the witness: nothing lost, nothing run twice.
struct FailoverDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Kill the primary under load, promote the replica after 5 s: executors follow, nothing lost.")

    @OptionGroup var drill: DrillOptions
    @Option(help: "Seconds after the first fire when the primary is killed.") var killAt = 15.0
    @Option(help: "Seconds between the kill and the promotion.") var promoteAfter = 5.0

    func run() throws {
        var options = drill
        options.databaseURL = try ClusterControl.urls()["SUNDIAL_FAILOVER_URL"]
        let drill = try options.makeDrill(name: "failover")
        let cluster = ClusterControl(logDirectory: drill.directory)
        for slot in 0..<options.executors { try drill.fleet.start(slot) }
        let atMostOnce = try drill.insertHalfAtMostOnce()
        var killed: Int64?
        var promoted: Int64?
        let crashed = try drill.run(settle: 90) { elapsed in
            guard promoted == nil, elapsed >= killAt else { return }
            // Without semi-synchronous replication the drill would measure asynchronous losses.
            guard cluster.text("a", "SHOW STATUS LIKE 'Rpl_semi_sync_master_status'") == "ON" else {
                throw ValidationError("semi-synchronous replication is off on a before the kill")
            }
            try cluster.run("kill", "a")
            killed = Clock.unixMicroseconds()
            usleep(UInt32(promoteAfter * 1_000_000))
            try cluster.run("promote", "b")
            promoted = Clock.unixMicroseconds()
            try cluster.run("start-read-only", "a")
        }
        guard let killed, let promoted else { throw ValidationError("the primary was never killed") }
        let account = try DeliveryAccount(drill: drill, atMostOnce: atMostOnce)
        let resume = try drill.resumeTime(after: killed)
        let moved =
            drill.fleet.logLines(containing: "accepts writes again").count
            + drill.fleet.logLines(containing: "connections go to another node").count
        let pass = account.keptThePromise && crashed.isEmpty && resume.isFinite
        print(
            "failover: \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second (run_all, half at_most_once) on \(options.executors) executors with a two-host URL: primary killed at \(Int(killAt)) s, replica promoted \(String(format: "%.1f", Double(promoted - killed) / 1_000_000)) s later; \(account.summary); fires due at the kill ran \(String(format: "%.1f", resume)) s after it; \(moved) pools moved to the new primary by themselves; \(crashed.isEmpty ? "every executor exited cleanly" : "executors that failed: \(crashed)")"
        )
        if !pass { throw ExitCode(1) }
    }
}
