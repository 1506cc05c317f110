import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

#if canImport(FoundationNetworking)
    import FoundationNetworking
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

    @Option(help: "http tasks (max_concurrency 1), every second.") var httpTasks = 40
    @Option(help: "witness tasks with misfire policy skip, every second.") var tasks = 200
    @Option(help: "Seconds of fires counted.") var seconds = 60
    @Option(help: "Minutes of each step.") var minutes = 5.0
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    func run() throws {
        let drill = try FireDrill(
            name: "clock_step", tasks: tasks, seconds: seconds, executorArguments: ["--threads", "32"],
            baseURL: databaseURL)
        let folder = drill.directory
        let library = folder.appendingPathComponent("libclockshift.so").path
        try Self.shell(["cc", "-shared", "-fPIC", "-O2", "-o", library, "Benchmarks/clockshift/clockshift.c", "-ldl"])
        let shiftFile = folder.appendingPathComponent("shift").path
        try Data("0".utf8).write(to: URL(fileURLWithPath: shiftFile))
        let portFile = folder.appendingPathComponent("port").path
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "Benchmarks/fixtures/overlap_server.py", portFile, "0.6"]
        // Not on the drill's output: Benchmarks/run reads it through a pipe until every writer is gone.
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            kill(server.processIdentifier, SIGKILL)
            server.waitUntilExit()
        }
        var port = ""
        for _ in 0..<100 where port.isEmpty {
            usleep(50_000)
            port = (try? String(contentsOfFile: portFile, encoding: .utf8)) ?? ""
        }
        guard !port.isEmpty else { throw ValidationError("the overlap server did not start") }

        try drill.fleet.start(0)
        try drill.fleet.start(
            1, variables: ["LD_PRELOAD": library, "SUNDIAL_CLOCKSHIFT_FILE": shiftFile])
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
        let report = try Self.fetch("http://127.0.0.1:\(port)/report")
        let requests = report["requests"] as? Int ?? 0
        let overlaps = report["overlaps"] as? Int ?? -1
        let account = try drill.account()
        let fences = drill.fleet.selfFences
        let pass = overlaps == 0 && requests > 0 && account.lost == 0 && account.duplicates == 0 && failed.isEmpty
        print(
            "clock-step: \(pass ? "PASS" : "FAIL") one of 2 executors had its wall clock stepped \(Int(minutes)) min forward, back, \(Int(minutes)) min behind and back over \(seconds) s: \(httpTasks) http tasks (max_concurrency 1) every second, \(requests) requests, \(overlaps) overlapping; \(tasks) skip tasks every second: lost \(account.lost) of \(account.expected), duplicates \(account.duplicates), \(account.lagSummary); self-fences \(fences)\(failed.isEmpty ? "" : "; executors that failed to stop: \(failed)")"
        )
        if !pass { throw ExitCode(1) }
    }

    static func shell(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ValidationError("\(arguments.joined(separator: " ")) failed (\(process.terminationStatus))")
        }
    }

    static func fetch(_ address: String) throws -> [String: Any] {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var body: Data?
        URLSession.shared.dataTask(with: URL(string: address)!) { data, _, _ in
            body = data
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 10)
        guard let body, let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw ValidationError("no report from \(address)")
        }
        return object
    }
}
