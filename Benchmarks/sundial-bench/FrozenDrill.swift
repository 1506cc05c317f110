import ArgumentParser
import Foundation
import Logging
import SundialTesting

/// Scenario 7: an executor running long shell tasks is frozen with SIGSTOP for longer than its
/// lease, then thawed with SIGCONT. Another executor, with threads to spare, takes its fires
/// over and runs them again at once (`at_least_once`); no task may ever run on two executors at
/// once. Every command holds a per-task `flock` while it runs and records an overlap when it
/// finds the lock taken, so an overlap cannot go unseen; the runs last longer than the lease, so
/// one left alive would overlap. Half the commands ignore SIGTERM: only a SIGKILL in time stops them.
struct FrozenDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frozen", abstract: "SIGSTOP an executor past its lease, then SIGCONT: no task runs twice at once."
    )

    @Option(help: "Long-running tasks (each `sleep` under a lock), started every 30 s.") var tasks = 8
    @Option(help: "Seconds each run takes: longer than the lease, so a run left alive would overlap.")
    var runSeconds = 20.0
    @Option(help: "Seconds after the start before one executor may be frozen.") var freezeAt = 5.0
    @Option(help: "Seconds it stays frozen (the lease is 10 s).") var freezeFor = 15.0
    @Option(help: "Seconds the drill goes on after the thaw (the next round starts 13 s after it).")
    var after = 18.0
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    func run() throws {
        let bench = try BenchDatabase.create(named: "sundial_bench_frozen", baseURL: databaseURL)
        defer { bench.db.close() }
        let fleet = try ExecutorFleet(scenario: "frozen", databaseURL: bench.url, arguments: ["--threads", "16"])
        let directory = fleet.logDirectory
        let overlaps = directory.appendingPathComponent("overlaps").path
        for n in 1...tasks {
            let body = n % 2 == 0 ? "trap \"\" TERM; sleep \(runSeconds)" : "sleep \(runSeconds)"
            let command =
                "flock -n -E 75 \(directory.path)/lock-$SUNDIAL_TASK_ID sh -c '\(body)'; [ $? -ne 75 ] || echo \"$SUNDIAL_TASK_ID $SUNDIAL_ATTEMPT\" >> \(overlaps)"
            let payload = String(
                decoding: try JSONSerialization.data(withJSONObject: ["command": command]), as: UTF8.self)
            try bench.db.execute(
                "INSERT INTO cron (name, action, payload, schedule) VALUES (?, 'shell', ?, '*/30 * * * * *')",
                [.string("long-\(n)"), .string(payload)])
        }
        let start = Date()
        func sleep(until seconds: Double) {
            let wait = start.addingTimeInterval(seconds).timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
        }
        // The first executor alone takes the first round of runs (they start on multiples of
        // 30 s); the second joins a second later, all threads free, and the first freezes two
        // seconds into the round.
        try fleet.start(0)
        let earliest = start.timeIntervalSince1970 + freezeAt
        let round = ((earliest - 2) / 30).rounded(.up) * 30
        let freezeAt = round + 2 - start.timeIntervalSince1970
        sleep(until: freezeAt - 1)
        try fleet.start(1)
        sleep(until: freezeAt)
        let runningAtFreeze = try bench.db.count(
            "SELECT COUNT(*) FROM cron_run WHERE status = 'running' AND executor LIKE 'bench-0/%'")
        fleet.signal(0, SIGSTOP)
        sleep(until: freezeAt + freezeFor)
        fleet.signal(0, SIGCONT)
        let thawed = Date()
        sleep(until: freezeAt + freezeFor + after)
        // The thawed executor is back: registered again, heartbeating.
        let back = try bench.db.count(
            "SELECT COUNT(*) FROM cron_executor WHERE id LIKE 'bench-0/%' AND state = 'running' AND heartbeat > NOW(6) - INTERVAL 3 SECOND"
        )
        let failed = fleet.stopAll()

        let overlapLines = ((try? String(contentsOfFile: overlaps, encoding: .utf8)) ?? "").split(separator: "\n")
        let lost = try bench.db.count(
            "SELECT COUNT(*) FROM cron_run WHERE status = 'lost' AND executor LIKE 'bench-0/%'")
        let rerun = try bench.db.count("SELECT COUNT(*) FROM cron_run WHERE attempt > 0 AND status = 'succeeded'")
        let resumed = try bench.db.count(
            "SELECT COUNT(*) FROM cron_run WHERE executor LIKE 'bench-0/%' AND started_at > FROM_UNIXTIME(\(thawed.timeIntervalSince1970 + 1))"
        )
        let declaredDead = fleet.logLines(containing: "declared dead").count
        let pass = overlapLines.isEmpty && failed.isEmpty && lost > 0 && back == 1
        print(
            "frozen: \(pass ? "PASS" : "FAIL") \(tasks) shell tasks of \(Int(runSeconds)) s every 30 s (half ignoring SIGTERM) on 2 executors × 16 threads; one frozen \(Int(freezeFor)) s with \(runningAtFreeze) runs under way: runs on two executors at once \(overlapLines.count); the frozen executor's runs marked lost \(lost), run again and finished \(rerun); after SIGCONT it \(declaredDead > 0 ? "found itself declared dead, registered again" : "carried on"), \(back == 1 ? "heartbeats" : "is NOT heartbeating") and started \(resumed) runs\(failed.isEmpty ? "" : "; executors that failed: \(failed)")"
        )
        if !pass { throw ExitCode(1) }
    }
}
