import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The supervisord recipe (`deploy/supervisord/sundial.conf`, used as it is) under the precision
/// load: supervisord starts its executors, each is restarted in turn with `supervisorctl restart`,
/// then `supervisorctl stop all`. Every fire in the window must have run exactly once, nothing stay
/// claimed, and every process have exited with status 0.
struct SupervisordDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisord",
        abstract: "The supervisord recipe: restart each executor in turn, then stop all: nothing lost or left claimed.")

    @OptionGroup var drill: DrillOptions
    @Option(help: "The install prefix holding bin/sundial (deploy/install PREFIX).") var home: String
    @Option(help: "The recipe.") var recipe = "deploy/supervisord/sundial.conf"
    @Option(help: "Seconds between restarts.") var every = 8.0

    func run() throws {
        let drill = try self.drill.makeDrill(name: "supervisord")
        let directory = drill.directory.path
        let recipePath = URL(fileURLWithPath: recipe).standardizedFileURL.path
        let conf = """
            [supervisord]
            logfile=\(directory)/supervisord.log
            pidfile=\(directory)/supervisord.pid
            childlogdir=\(directory)
            nodaemon=false

            [unix_http_server]
            file=\(directory)/supervisor.sock

            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

            [supervisorctl]
            serverurl=unix://\(directory)/supervisor.sock

            [include]
            files = \(recipePath)

            """
        let confPath = "\(directory)/supervisord.conf"
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["SUNDIAL_HOME"] = home
        environment["SUNDIAL_DATABASE_URL"] = drill.bench.url
        environment["SUNDIAL_REPLICA_URLS"] = ""
        environment["SUNDIAL_LOG_DIR"] = directory
        environment["SUNDIAL_LOG_LEVEL"] = "notice"
        // Output through a file: supervisord's daemon would hold a pipe open for ever.
        let outputPath = "\(directory)/supervisorctl.out"
        func supervisor(_ arguments: [String]) throws -> String {
            FileManager.default.createFile(atPath: outputPath, contents: nil)
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outputPath))
            defer { try? output.close() }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.environment = environment
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = output
            process.standardError = output
            try process.run()
            process.waitUntilExit()
            return (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        }
        let ctl = ["supervisorctl", "-c", confPath]
        // In the foreground (-n), as a child of this drill: shut down with supervisorctl at the end.
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        daemon.arguments = ["supervisord", "-n", "-c", confPath]
        daemon.environment = environment
        daemon.standardInput = FileHandle.nullDevice
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            _ = try? supervisor(ctl + ["shutdown"])
            daemon.waitUntilExit()
        }
        let names = (0..<3).map { "sundial-executor:sundial-executor_0\($0)" }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let status = try supervisor(ctl + ["status"])
            if status.split(separator: "\n").filter({ $0.contains("RUNNING") }).count == names.count { break }
            usleep(200_000)
        }
        try drill.insertTasks(misfirePolicy: { _ in "run_all" })
        var next = every
        var restarted = 0
        _ = try drill.run { elapsed in
            guard elapsed >= next, restarted < names.count else { return }
            print(try supervisor(ctl + ["restart", names[restarted]]).trimmingCharacters(in: .whitespacesAndNewlines))
            restarted += 1
            next += every
        }
        print(try supervisor(ctl + ["stop", "all"]).trimmingCharacters(in: .whitespacesAndNewlines))
        let log = (try? String(contentsOfFile: "\(directory)/supervisord.log", encoding: .utf8)) ?? ""
        let stops = log.split(separator: "\n").filter { $0.contains("stopped: sundial-executor") }
        let unclean = stops.filter { !$0.contains("(exit status 0)") }
        let stillClaimed = try drill.bench.db.count("SELECT COUNT(*) FROM cron WHERE task_id IS NOT NULL")
        let stillRunning = try drill.bench.db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'")
        let account = try drill.account()
        let pass =
            account.lost == 0 && account.duplicates == 0 && restarted == names.count
            && stops.count == names.count * 2 && unclean.isEmpty && stillClaimed == 0 && stillRunning == 0
        if !unclean.isEmpty { print(unclean.joined(separator: "\n")) }
        print(
            "supervisord: \(pass ? "PASS" : "FAIL") the recipe's \(names.count) executors, \(drill.tasks) tasks every second for \(drill.seconds) s, each restarted in turn with supervisorctl, then stop all: lost \(account.lost) of \(account.expected), duplicates \(account.duplicates); stops \(stops.count) (\(unclean.count) with an exit status other than 0); rows still claimed \(stillClaimed), runs still 'running' \(stillRunning); \(account.lagSummary)"
        )
        if !pass { throw ExitCode(1) }
    }
}
