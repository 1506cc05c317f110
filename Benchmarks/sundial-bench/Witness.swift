import Foundation

/// One execution as the `witness` action wrote it: evidence from the process that ran it.
struct Execution {
    var task: Int64
    /// The fire's scheduled time, Unix µs.
    var scheduled: Int64
    var attempt: Int
    var pid: Int32
    /// When the handler started, Unix µs (this host's clock, which is also the database's here).
    var started: Int64

    /// Start lag in milliseconds.
    var lag: Double { Double(started - scheduled) / 1000 }
}

enum WitnessLog {
    /// Every `<path>.<pid>.<thread>` file the witness action wrote.
    static func read(_ path: String) throws -> [Execution] {
        let url = URL(fileURLWithPath: path)
        let prefix = url.lastPathComponent + "."
        let directory = url.deletingLastPathComponent()
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(prefix) }
        return try files.flatMap { file in
            try parse(String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8))
        }
    }

    static func parse(_ text: String) -> [Execution] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count == 5, let task = Int64(f[0]), let scheduled = Int64(f[1]), let attempt = Int(f[2]),
                let pid = Int32(f[3]), let started = Int64(f[4])
            else { return nil }
            return Execution(task: task, scheduled: scheduled, attempt: attempt, pid: pid, started: started)
        }
    }
}

/// One fire: a task and its scheduled time (Unix µs).
struct FireKey: Hashable {
    var task: Int64
    var scheduled: Int64
}

/// What happened to every fire of `tasks` tasks firing each whole second in a window.
struct FireAccount {
    var expected = 0
    var executed = 0
    var lost = 0
    /// Executions beyond the first of a fire.
    var duplicates = 0
    /// Duplicates explained by an executor killed with SIGKILL after starting the fire, before
    /// recording it (`at_least_once` runs such a fire again).
    var rerunsAfterKill = 0
    var early = 0
    /// Lag of each fire's first execution, ms, sorted.
    var lags: [Double] = []
    /// Fires first executed more than a second late.
    var lateBeyondOneSecond = 0
    /// The fires that never ran: task id and scheduled time (Unix µs).
    var missing: [FireKey] = []

    /// `window` holds the scheduled times counted, Unix µs, on whole seconds.
    init(executions: [Execution], taskIDs tasks: Set<Int64>, window: Range<Int64>, killedPIDs: Set<Int32> = []) {
        let seconds = Int((window.upperBound - window.lowerBound) / 1_000_000)
        expected = tasks.count * seconds
        var byFire: [Int64: [Int64: [Execution]]] = [:]
        for e in executions where window.contains(e.scheduled) && tasks.contains(e.task) {
            byFire[e.task, default: [:]][e.scheduled, default: []].append(e)
        }
        for fires in byFire.values {
            for runs in fires.values {
                executed += 1
                let first = runs.min { $0.started < $1.started }!
                lags.append(first.lag)
                if first.lag < 0 { early += 1 }
                if first.lag > 1000 { lateBeyondOneSecond += 1 }
                let extra = runs.count - 1
                let byKilled = runs.filter { killedPIDs.contains($0.pid) }.count
                duplicates += max(0, extra - byKilled)
                rerunsAfterKill += min(extra, byKilled)
            }
        }
        lost = expected - executed
        lags.sort()
        if lost > 0 {
            for task in tasks {
                for second in 0..<seconds {
                    let scheduled = window.lowerBound + Int64(second) * 1_000_000
                    if byFire[task]?[scheduled] == nil { missing.append(FireKey(task: task, scheduled: scheduled)) }
                }
            }
        }
    }

    func percentile(_ p: Double) -> Double {
        guard !lags.isEmpty else { return .nan }
        return lags[min(lags.count - 1, Int(Double(lags.count) * p))]
    }

    /// "p50 1.2 ms, p99 8.0 ms, max 31.0 ms"
    var lagSummary: String {
        "start lag p50 \(ms(percentile(0.5))), p99 \(ms(percentile(0.99))), max \(ms(lags.last ?? .nan))"
    }
}

func ms(_ value: Double) -> String { String(format: value < 10 ? "%.2f ms" : "%.0f ms", value) }

extension Array where Element == Double {
    /// The value below which `p` of the sorted array lies.
    func percentile(_ p: Double) -> Double {
        guard !isEmpty else { return .nan }
        let sorted = self.sorted()
        return sorted[Swift.min(count - 1, Int(Double(count) * p))]
    }
}
