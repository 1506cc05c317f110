import ArgumentParser
import Foundation
import Logging
import SundialTesting

#if canImport(Glibc)
    import Glibc
#endif

/// Scenario 4: `shell` tasks running `true`, drained by one executor, against a plain loop of
/// the same number of threads spawning `/bin/sh -c true` and waiting, in the same run.
struct ShellBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell", abstract: "shell tasks running `true` per second, against a plain spawn-and-wait loop.")

    @Option(help: "Tasks to run per round.") var tasks = 2000
    @Option(help: "Executor threads, and threads of the plain loop.") var threads = 8
    @Option(help: "Rounds (each: the plain loop, then the executor); medians are reported.") var rounds = 3
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    func run() throws {
        let bench = try BenchDatabase.create(named: "sundial_bench_shell", baseURL: databaseURL)
        defer { bench.db.close() }
        let fleet = try ExecutorFleet(
            scenario: "shell", databaseURL: bench.url, arguments: ["--threads", String(threads)])
        try fleet.start(0)
        defer { fleet.stopAll() }
        usleep(1_000_000)
        var plain: [Double] = []
        var executor: [Double] = []
        for round in 1...rounds {
            plain.append(try plainLoop())
            try bench.db.execute(
                "INSERT INTO cron (name, action, payload) SELECT CONCAT('true-\(round)-', seq), 'shell', '{\"command\":\"true\"}' FROM seq_1_to_\(tasks)"
            )
            let took = try bench.wait(
                until: "SELECT COUNT(*) FROM cron_run WHERE finished_at IS NOT NULL", reaches: tasks * round,
                every: .milliseconds(20), "\(tasks) shell tasks")
            executor.append(Double(tasks) / took.seconds)
            print(
                "round \(round): plain \(Int(plain[round - 1]))/s, executor \(Int(executor[round - 1]))/s (\(String(format: "%.2f", executor[round - 1] / plain[round - 1])))"
            )
        }
        let failed = try bench.db.count("SELECT COUNT(*) FROM cron_run WHERE status <> 'succeeded'")
        let distinct = try bench.db.count("SELECT COUNT(DISTINCT cron_id) FROM cron_run")
        let pass = failed == 0 && distinct == tasks * rounds
        let (rate, plainRate) = (executor.median, plain.median)
        print(
            "shell: \(pass ? "PASS" : "FAIL") \(tasks) shell tasks running `true` per round, \(rounds) rounds, 1 executor × \(threads) threads: \(Int(rate)) runs/s (failed \(failed), duplicates \(tasks * rounds - distinct)); plain spawn-and-wait of /bin/sh -c true on \(threads) threads in the same rounds: \(Int(plainRate)) /s; executor/plain = \(String(format: "%.2f", rate / plainRate)) (medians; target ≥ 0.5)"
        )
        if !pass { throw ExitCode(1) }
    }

    /// The ceiling: posix_spawn and waitpid, nothing else.
    private func plainLoop() throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        let remaining = Counter(tasks)
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                while remaining.take() {
                    var pid: pid_t = 0
                    var arguments: [UnsafeMutablePointer<CChar>?] = [
                        strdup("/bin/sh"), strdup("-c"), strdup("true"), nil,
                    ]
                    defer { arguments.forEach { free($0) } }
                    guard posix_spawn(&pid, "/bin/sh", nil, nil, &arguments, environ) == 0 else { continue }
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                }
            }.start()
        }
        group.wait()
        return Double(tasks) / (clock.now - start).seconds
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var left: Int
        init(_ count: Int) { left = count }
        func take() -> Bool {
            lock.withLock {
                guard left > 0 else { return false }
                left -= 1
                return true
            }
        }
    }
}
