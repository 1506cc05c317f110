import ArgumentParser
import Foundation
import SundialMySQL

/// What the database server spent on a stretch of work: its CPU time (from `/proc/<pid>/stat`,
/// the server runs on this machine) and its statement and handler counters.
struct ServerProbe {
    let db: Database
    let pid: Int32

    init(_ db: Database) throws {
        self.db = db
        guard let file = try db.query("SELECT @@pid_file AS f", consistency: .primary).first?["f"].string,
            let text = try? String(contentsOfFile: file, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw ValidationError("cannot find the database server's process (@@pid_file)") }
        self.pid = pid
    }

    struct Reading {
        var cpuSeconds: Double
        var counters: [String: Int]
    }

    /// The counters a claim, a read-back, a run row and a finish move.
    static let counterNames = [
        "Com_begin", "Com_commit", "Com_select", "Com_update", "Com_insert", "Com_delete", "Com_stmt_execute",
        "Com_stmt_prepare", "Com_set_option", "Handler_read_key", "Handler_read_next", "Handler_read_rnd",
        "Handler_read_rnd_next", "Handler_update", "Handler_write", "Handler_delete", "Handler_tmp_write",
        "Handler_tmp_update",
    ]

    func read() throws -> Reading {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
        guard let close = stat.lastIndex(of: ")") else { throw ValidationError("unreadable /proc/\(pid)/stat") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw ValidationError("unreadable /proc/\(pid)/stat")
        }
        var counters: [String: Int] = [:]
        for row in try db.query("SHOW GLOBAL STATUS", consistency: .primary) {
            guard let name = row["Variable_name"].string, Self.counterNames.contains(name),
                let value = row["Value"].string.flatMap({ Int($0) })
            else { continue }
            counters[name] = value
        }
        return Reading(cpuSeconds: (user + system) / ticks, counters: counters)
    }

    /// Server CPU µs and counters per execution between two readings.
    static func perExecution(from a: Reading, to b: Reading, executions: Int) -> (cpuMicros: Double, counters: String) {
        let n = Double(max(executions, 1))
        let counters = counterNames.compactMap { name -> String? in
            let delta = Double((b.counters[name] ?? 0) - (a.counters[name] ?? 0)) / n
            guard delta >= 0.0005 else { return nil }
            let short = name.replacingOccurrences(of: "Handler_", with: "H_")
            return "\(short) \(String(format: delta < 0.1 ? "%.3f" : "%.2f", delta))"
        }
        return ((b.cpuSeconds - a.cpuSeconds) * 1e6 / n, counters.joined(separator: ", "))
    }
}
