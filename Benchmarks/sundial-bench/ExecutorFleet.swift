import ArgumentParser
import Foundation
import SundialTesting

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The `sundial executor` processes of one benchmark: the release binary, started by slot, and
/// killed, frozen, restarted and measured as the scenario asks. Their logs go to one file per slot.
final class ExecutorFleet {
    let databaseURL: String
    let arguments: [String]
    /// Executors serve /metrics on 127.0.0.1:19464 + slot (otherwise `--listen off`).
    let servesMetrics: Bool
    /// /tmp/sundial-bench-<scenario>-<pid>: the executors' logs, and whatever else the scenario keeps.
    let logDirectory: URL
    private(set) var pids: [Int: pid_t] = [:]
    /// Every pid this fleet killed with SIGKILL, and when (Unix µs).
    private(set) var killed: [(pid: pid_t, at: Int64)] = []

    init(scenario: String, databaseURL: String, arguments: [String] = [], servesMetrics: Bool = false) throws {
        guard FileManager.default.isExecutableFile(atPath: BenchDatabase.sundialBinary.path) else {
            throw ValidationError(
                "\(BenchDatabase.sundialBinary.path) is missing: build it first with swift build -c release")
        }
        self.databaseURL = databaseURL
        self.arguments = arguments
        self.servesMetrics = servesMetrics
        logDirectory = Self.directory(for: scenario)
        try FileManager.default.createDirectory(at: logDirectory, withIntermediateDirectories: true)
    }

    /// Starts executor `slot` (named `bench-<slot>`) and returns its pid. `databaseURL`: a server
    /// of its own (a cluster's node) instead of the fleet's; `variables`: more environment.
    @discardableResult
    func start(
        _ slot: Int, extra: [String] = [], databaseURL: String? = nil, variables: [String: String] = [:]
    ) throws -> pid_t {
        var environment = ProcessInfo.processInfo.environment
        environment["SUNDIAL_DATABASE_URL"] = databaseURL ?? self.databaseURL
        environment["SUNDIAL_REPLICA_URLS"] = nil
        environment.merge(variables) { _, new in new }
        let argv =
            [
                BenchDatabase.sundialBinary.path, "executor", "--id", "bench-\(slot)", "--listen",
                servesMetrics ? "127.0.0.1:\(Self.metricsPort + slot)" : "off", "--log-level", "notice",
            ]
            + arguments + extra
        let pid = try ChildProcess.spawn(
            argv, environment: environment, log: logDirectory.appendingPathComponent("executor-\(slot).log").path)
        pids[slot] = pid
        return pid
    }

    static let metricsPort = 19_464

    /// The sum over every running executor of a counter's series in /metrics (all label sets).
    func metricTotal(_ name: String) throws -> Int {
        var total = 0.0
        for slot in pids.keys.sorted() {
            let url = URL(string: "http://127.0.0.1:\(Self.metricsPort + slot)/metrics")!
            let text = try Self.fetch(url)
            for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
                total += Double(line.split(separator: " ").last ?? "") ?? 0
            }
        }
        return Int(total)
    }

    /// The body of a 200 answer to a GET of `url` (10 s at most).
    static func fetch(_ url: URL) throws -> String {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<String, Error> = .failure(ValidationError("no answer from \(url)"))
        URLSession.shared.dataTask(with: url) { data, response, error in
            if let data, (response as? HTTPURLResponse)?.statusCode == 200 {
                result = .success(String(decoding: data, as: UTF8.self))
            } else if let error {
                result = .failure(error)
            }
            done.signal()
        }.resume()
        _ = done.wait(timeout: .now() + 10)
        return try result.get()
    }

    func signal(_ slot: Int, _ signal: Int32) {
        if let pid = pids[slot] { Glibc.kill(pid, signal) }
    }

    /// SIGKILL, reaped at once.
    func kill(_ slot: Int) {
        guard let pid = pids[slot] else { return }
        Glibc.kill(pid, SIGKILL)
        killed.append((pid, Clock.unixMicroseconds()))
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        pids[slot] = nil
    }

    /// The slots whose process has exited on its own (reaped now), as a supervisor's restart loop
    /// sees them; each counts as killed at the moment it is found (its re-run fires are no
    /// duplicates, as after a SIGKILL).
    func reapExited() -> [Int] {
        var exited: [Int] = []
        for (slot, pid) in pids.sorted(by: { $0.key < $1.key }) {
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { continue }
            killed.append((pid, Clock.unixMicroseconds()))
            pids[slot] = nil
            exited.append(slot)
        }
        return exited
    }

    /// Resident memory of `slot` in KiB, from /proc.
    func residentKiB(_ slot: Int, field: String = "VmRSS") -> Int? {
        guard let pid = pids[slot],
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }

    /// SIGTERM to every executor, then waits for each to exit (SIGKILL after `timeout`). Returns
    /// the slots that did not exit with status 0.
    @discardableResult
    func stopAll(timeout: TimeInterval = 60) -> [Int] {
        for pid in pids.values { Glibc.kill(pid, SIGCONT) }
        for pid in pids.values { Glibc.kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(timeout)
        var failed: [Int] = []
        for (slot, pid) in pids.sorted(by: { $0.key < $1.key }) where Self.exitStatus(of: pid, by: deadline) != 0 {
            failed.append(slot)
        }
        pids.removeAll()
        return failed
    }

    /// SIGTERM to one executor, as a deploy stops it, and its exit status once it has exited
    /// (-1 when it had to be killed after `timeout`).
    func terminate(_ slot: Int, timeout: TimeInterval = 60) -> Int32 {
        guard let pid = pids[slot] else { return -1 }
        Glibc.kill(pid, SIGTERM)
        pids[slot] = nil
        return Self.exitStatus(of: pid, by: Date().addingTimeInterval(timeout))
    }

    private static func exitStatus(of pid: pid_t, by deadline: Date) -> Int32 {
        var status: Int32 = 0
        while true {
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid { return status }
            if done == -1 && errno != EINTR { return -1 }
            if Date() > deadline {
                Glibc.kill(pid, SIGKILL)
                waitpid(pid, &status, 0)
                return -1
            }
            usleep(20_000)
        }
    }

    /// How many times an executor fenced itself off (its lease unrenewed for most of its length).
    var selfFences: Int { logLines(containing: "no lease renewal for most of the lease").count }

    /// Lines of the executors' logs that contain `text`.
    func logLines(containing text: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: logDirectory.path)) ?? []
        return files.sorted().flatMap { file -> [String] in
            let path = logDirectory.appendingPathComponent(file).path
            let content = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            return content.split(separator: "\n").filter { $0.contains(text) }.map { "\(file): \($0)" }
        }
    }

    deinit { stopAll(timeout: 5) }

    /// A fresh working folder for a scenario.
    static func directory(for scenario: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-bench-\(scenario)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

enum Clock {
    static func unixMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
    }
}
