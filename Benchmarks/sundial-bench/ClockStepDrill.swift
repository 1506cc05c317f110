import ArgumentParser
import Foundation
import SundialTesting

#if canImport(Glibc)
    import Glibc
#endif

/// One executor's host clock stepped by minutes, forward and back, while two executors run
/// every-second tasks: `http` tasks of max_concurrency 1 whose endpoint counts a request that
/// arrives while another of the same task is still served (an overlap), and `witness` tasks
/// with misfire policy `skip`, every fire of which must run. The step is made by a small
/// LD_PRELOAD library (Benchmarks/clockshift) that shifts that process's realtime clocks and
/// realtime waits; its monotonic clock is untouched, as on a host whose NTP steps the clock.
struct ClockStepDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clock-step",
        abstract: "Step one executor's wall clock by minutes both ways: no overlap, no dropped fire.")

    @OptionGroup var options: DrillOptions
    @Option(help: "http tasks (max_concurrency 1), every second.") var httpTasks = 40
    @Option(help: "Minutes of each step.") var minutes = 5.0

    func run() throws {
        let seconds = options.seconds
        let drill = try options.makeDrill(name: "clock_step", extraArguments: ["--threads", "32"])
        let folder = drill.directory
        let log = folder.appendingPathComponent("clock-step.log").path
        let library = folder.appendingPathComponent("libclockshift.so").path
        try ChildProcess.run(
            ["cc", "-shared", "-fPIC", "-O2", "-o", library, "Benchmarks/clockshift/clockshift.c", "-ldl"], log: log)
        let shiftFile = folder.appendingPathComponent("shift").path
        try Data("0".utf8).write(to: URL(fileURLWithPath: shiftFile))
        let portFile = folder.appendingPathComponent("port").path
        // Its output goes to the log, never to the drill's (Benchmarks/run reads that through a pipe).
        let server = try ChildProcess.spawn(
            ["python3", "Benchmarks/fixtures/overlap_server.py", portFile, "0.6"],
            environment: ProcessInfo.processInfo.environment, log: log)
        defer {
            // SIGKILL: the drill's SIGTERM is blocked, and the child inherits that.
            kill(server, SIGKILL)
            var status: Int32 = 0
            while waitpid(server, &status, 0) == -1 && errno == EINTR {}
        }
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            usleep(50_000)
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)) ?? ""
        }
        guard !port.isEmpty else { throw ValidationError("the overlap server did not start; see \(log)") }

        // The last executor's clock is stepped; the others keep true time.
        let stepped = options.executors - 1
        for slot in 0..<stepped { try drill.fleet.start(slot) }
        try drill.fleet.start(
            stepped, variables: ["LD_PRELOAD": library, "SUNDIAL_CLOCKSHIFT_FILE": shiftFile])
        try drill.insertTasks(misfirePolicy: { _ in "skip" })
        for n in 1...httpTasks {
            let payload = #"{"url": "http://127.0.0.1:\#(port)/task/h\#(n)", "timeout": 30}"#
            try drill.bench.db.execute(
                "INSERT INTO cron (name, action, payload, schedule) VALUES (?, 'http', ?, '* * * * * *')",
                [.string("http-\(n)"), .string(payload)])
        }
        // Forward by the step, back to true time, back by the step, true again: each a fifth in.
        let steps: [(at: Double, shift: Double)] = [
            (Double(seconds) * 0.2, minutes * 60), (Double(seconds) * 0.4, 0), (Double(seconds) * 0.6, -minutes * 60),
            (Double(seconds) * 0.8, 0),
        ]
        var next = 0
        let failed = try drill.run { elapsed in
            while next < steps.count && elapsed >= steps[next].at {
                try Data("\(steps[next].shift)".utf8).write(to: URL(fileURLWithPath: shiftFile))
                next += 1
            }
        }
        let report =
            try JSONSerialization.jsonObject(
                with: Data(try ExecutorFleet.fetch(URL(string: "http://127.0.0.1:\(port)/report")!).utf8))
            as? [String: Any] ?? [:]
        let requests = report["requests"] as? Int ?? 0
        let overlaps = report["overlaps"] as? Int ?? -1
        let account = try drill.account()
        let fences = drill.fleet.selfFences
        let pass = overlaps == 0 && requests > 0 && account.lost == 0 && account.duplicates == 0 && failed.isEmpty
        print(
            "clock-step: \(pass ? "PASS" : "FAIL") one of \(options.executors) executors had its wall clock stepped \(Int(minutes)) min forward, back, \(Int(minutes)) min behind and back over \(seconds) s: \(httpTasks) http tasks (max_concurrency 1) every second, \(requests) requests, \(overlaps) overlapping; \(drill.tasks) skip tasks every second: lost \(account.lost) of \(account.expected), duplicates \(account.duplicates), \(account.lagSummary); self-fences \(fences)\(failed.isEmpty ? "" : "; executors that failed to stop: \(failed)")"
        )
        if !pass { throw ExitCode(1) }
    }
}
