import ArgumentParser
import Foundation
import SundialMySQL
import SundialTesting

/// The development clusters of `deploy/dev/devcluster`, as the high-availability drills drive them:
/// commands for the script, the URLs it exports, and root SQL on a node.
struct ClusterControl {
    let script = "deploy/dev/devcluster"
    /// Where the script's output goes.
    let log: String

    init(logDirectory: URL) {
        log = logDirectory.appendingPathComponent("devcluster.log").path
    }

    func run(_ arguments: String...) throws {
        try ChildProcess.run([script] + arguments, log: log)
    }

    /// The URLs `devcluster env` exports, by variable name.
    static func urls() throws -> [String: String] {
        var urls: [String: String] = [:]
        for line in output(["deploy/dev/devcluster", "env"]).split(separator: "\n") {
            // export NAME='value'
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].replacingOccurrences(of: "export ", with: "")
            urls[name] = String(line[line.index(after: equals)...]).trimmingCharacters(
                in: CharacterSet(charactersIn: "'"))
        }
        guard !urls.isEmpty else { throw ValidationError("deploy/dev/devcluster env printed nothing") }
        return urls
    }

    /// A number from a root query on `node` (`SHOW STATUS` values and the like).
    func number(_ node: String, _ sql: String) -> Int { Int(text(node, sql)) ?? 0 }

    /// The last value of a root query's output on `node`.
    func text(_ node: String, _ sql: String) -> String {
        let output = Self.output([script, "sql", node, "-N", "-e", sql])
        return String(output.split(whereSeparator: { $0 == "\t" || $0 == "\n" }).last ?? "")
    }

    /// What a `bash` script prints on standard output ("" when it cannot be started).
    private static func output(_ arguments: [String]) -> String {
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    /// What the script said it did, for the report ("cut off (link down)", "frozen (SIGSTOP…)").
    func said(_ marker: String) -> String? {
        let lines = (try? String(contentsOfFile: log, encoding: .utf8))?.split(separator: "\n") ?? []
        return lines.last { $0.contains(marker) }.map(String.init)
    }
}

/// Fires of tasks split in two classes (`at_least_once` and `at_most_once`), as the drills count
/// them.
struct DeliveryAccount {
    let atLeastOnce: FireAccount
    let atMostOnce: FireAccount
    /// `at_most_once` fires that never ran and that recovery gave up on record (`lost`): their start
    /// was committed while their executor lost the database, so nobody could know whether they ran.
    let givenUp: Int

    /// `cutOff`: executors that lost their database while running fires. An `at_least_once` fire
    /// such an executor started but could not record runs again, as `at_least_once` promises:
    /// counted apart, not as run twice. An `at_most_once` fire never runs twice, whatever happened.
    init(drill: FireDrill, atMostOnce ids: Set<Int64>, cutOff: Set<Int32> = []) throws {
        let executions = try WitnessLog.read(drill.witnessPath)
        atLeastOnce = FireAccount(
            executions: executions, taskIDs: drill.taskIDs.subtracting(ids), window: drill.window, killedPIDs: cutOff)
        atMostOnce = FireAccount(executions: executions, taskIDs: ids, window: drill.window)
        let onRecordAsLost = Set(
            try drill.bench.db.query(
                "SELECT cron_id, UNIX_TIMESTAMP(scheduled_for) AS at FROM cron_run WHERE status = 'lost'",
                consistency: .primary
            ).compactMap { row in
                row["cron_id"].int.flatMap { task in
                    row["at"].double.map { FireKey(task: Int64(task), scheduled: Int64(($0 * 1_000_000).rounded())) }
                }
            })
        givenUp = atMostOnce.missing.filter { onRecordAsLost.contains($0) }.count
    }

    var summary: String {
        let reruns =
            atLeastOnce.rerunsAfterKill > 0
            ? ", and \(atLeastOnce.rerunsAfterKill) fires the cut-off executor had started, but could not record, run again as at_least_once promises"
            : ""
        let unknown =
            givenUp > 0
            ? ", of which \(givenUp) given up on record as lost: their start committed as their executor was cut off, so whether they ran was unknown"
            : ""
        return
            "at_least_once \(atLeastOnce.executed) of \(atLeastOnce.expected) fires ran (lost \(atLeastOnce.lost), run twice \(atLeastOnce.duplicates)\(reruns)); at_most_once \(atMostOnce.executed) of \(atMostOnce.expected) (lost \(atMostOnce.lost)\(unknown), run twice \(atMostOnce.duplicates))"
    }

    /// Nothing lost but what `at_most_once` must give up, nothing run twice.
    var keptThePromise: Bool {
        atLeastOnce.lost == 0 && atMostOnce.lost == givenUp && atLeastOnce.duplicates == 0
            && atMostOnce.duplicates == 0
    }
}

extension FireDrill {
    /// The precision load of the high-availability drills: every task `run_all`, odd ones
    /// `at_least_once`, even ones `at_most_once`. Returns the `at_most_once` task ids.
    func insertHalfAtMostOnce() throws -> Set<Int64> {
        try insertTasks(misfirePolicy: { _ in "run_all" }, delivery: { $0 % 2 == 0 ? "at_most_once" : "at_least_once" })
        return Set(
            try bench.db.query("SELECT id FROM cron WHERE delivery = 'at_most_once'", consistency: .primary)
                .compactMap { $0["id"].int.map(Int64.init) })
    }

    /// Time to resume: seconds from `instant` (Unix µs) until every fire due in the second after it
    /// had run.
    func resumeTime(after instant: Int64) throws -> Double {
        var firstStart: [[Int64]: Int64] = [:]
        for e in try WitnessLog.read(witnessPath) where e.scheduled >= instant && e.scheduled < instant + 1_000_000 {
            firstStart[[e.task, e.scheduled]] = min(firstStart[[e.task, e.scheduled]] ?? .max, e.started)
        }
        return firstStart.values.max().map { Double($0 - instant) / 1_000_000 } ?? .infinity
    }
}
