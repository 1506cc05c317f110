import ArgumentParser
import Foundation

/// A poison fire under a restart loop: a one-shot whose run kills the executor that starts it
/// (as an OOM kill or a crashing handler would), on two executors that a supervisor restarts a
/// second after they die, beside every-second tasks. The poison must run at most `max_attempts`
/// times, end `dead` with the reason and an alert, and every other fire must still run.
struct PoisonDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "poison",
        abstract: "A fire that kills its executor, behind a restart loop: it runs at most max_attempts times.")

    @OptionGroup var options: DrillOptions
    @Option(help: "The poison's max_attempts.") var maxAttempts = 2

    func run() throws {
        // Alerts to a command channel that writes them down, so the `dead` alert is checked too.
        let folder = ExecutorFleet.directory(for: "poison-alerts")
        let settings = folder.appendingPathComponent("alerts.json")
        let received = folder.appendingPathComponent("received").path
        try Data(
            #"{"defaults": ["log"], "channels": {"log": {"type": "command", "command": "cat >> \#(received)"}}}"#
                .utf8
        ).write(to: settings)
        let drill = try options.makeDrill(name: "poison", extraArguments: ["--alerts", settings.path])
        for slot in 0..<options.executors { try drill.fleet.start(slot) }
        try drill.insertTasks(misfirePolicy: { _ in "run_all" })
        // The command finds the `sundial executor` process above it and kills it.
        let runs = drill.directory.appendingPathComponent("poison-runs").path
        let command = """
            echo "$SUNDIAL_ATTEMPT" >> \(runs); p=$$; while [ "$p" -gt 1 ]; do \
            p=$(awk '/^PPid/{print $2}' /proc/$p/status); \
            if tr '\\0' ' ' < /proc/$p/cmdline | grep -q ' executor '; then kill -9 "$p"; break; fi; done; sleep 5
            """
        let payload = String(decoding: try JSONSerialization.data(withJSONObject: ["command": command]), as: UTF8.self)
        var inserted = false
        var restartAt: [Int: Double] = [:]
        var deaths = 0
        let failed = try drill.run(
            disrupt: { elapsed in
                if !inserted && elapsed >= 3 {
                    try drill.bench.db.execute(
                        "INSERT INTO cron (name, action, payload, max_attempts, backoff_seconds) VALUES ('poison', 'shell', ?, ?, 2)",
                        [.string(payload), .int(Int64(maxAttempts))])
                    inserted = true
                }
                // The restart loop: a dead executor is started again a second later.
                for slot in drill.fleet.reapExited() {
                    deaths += 1
                    restartAt[slot] = elapsed + 1
                }
                for (slot, at) in restartAt where at <= elapsed {
                    try drill.fleet.start(slot)
                    restartAt[slot] = nil
                }
            },
            beforeStop: {
                // The poison's fate is settled within two leases of its last crash.
                try drill.bench.wait(
                    until: "SELECT COUNT(*) FROM cron WHERE name = 'poison' AND status = 'dead'", reaches: 1,
                    within: .seconds(90), "the poison given up")
            })
        let ran = ((try? String(contentsOfFile: runs, encoding: .utf8)) ?? "").split(separator: "\n").count
        let row = try drill.bench.db.query(
            "SELECT status, attempt, error FROM cron WHERE name = 'poison'", consistency: .primary
        ).first
        let lostRuns = try drill.bench.db.count(
            "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'poison' AND r.status = 'lost'"
        )
        let alerts = try drill.bench.db.count(
            "SELECT COUNT(*) FROM alert a JOIN cron c ON c.id = a.cron_id WHERE c.name = 'poison' AND a.event = 'dead'")
        let account = try drill.account()
        let pass =
            ran >= 1 && ran <= maxAttempts && row?["status"].string == "dead" && lostRuns == ran && alerts >= 1
            && account.lost == 0 && account.duplicates == 0 && failed.isEmpty
        print(
            "poison: \(pass ? "PASS" : "FAIL") a one-shot that kills its executor (max_attempts \(maxAttempts)), behind a restart loop, beside \(drill.tasks) tasks every second for \(drill.seconds) s: it ran \(ran) times, \(deaths) executor deaths, ended \(row?["status"].string ?? "?") with \(lostRuns) lost runs on record and \(alerts) dead alert(s) (\"\(row?["error"].string ?? "")\"); the other tasks: lost \(account.lost) of \(account.expected), duplicates \(account.duplicates) (\(account.rerunsAfterKill) fires the dead executors had started ran again), \(account.lagSummary)\(failed.isEmpty ? "" : "; executors that failed to stop: \(failed)")"
        )
        if !pass { throw ExitCode(1) }
    }
}
