import ArgumentParser
import Foundation
import SundialCore
import SundialSchedule

/// `sundial run …`: every task's runs, and one run with its output.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "List runs, show one with its output.",
        subcommands: [List.self, Show.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List runs, newest first.")
        @OptionGroup var common: StoreOptions
        @Option(help: "Only runs of this task.") var task: String?
        @Option(help: "Only this status: running, succeeded, failed, timed_out, killed, lost.") var status: String?
        @Option(help: "Only runs started since: an RFC 3339 time, or an age such as 90s, 30m, 6h, 7d.") var since:
            String?
        @Option(help: "Only runs of this executor.") var executor: String?
        @Option(help: "Runs to show (newest first).") var limit = 50
        @Option(help: "Only runs older than this run id (the next page).") var before: Int64?

        func run() throws {
            var filter = RunFilter(executor: executor)
            if let status {
                guard let value = RunStatus(rawValue: status) else {
                    throw ValidationError(
                        "--status must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.status = value
            }
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit takes 1 to 10000") }
            let age = try since.map(Self.parseSince)
            let runs = try common.withStore { store -> [RunInfo] in
                let now = try store.now()
                filter.since = age.map { $0(now) }
                if let task {
                    guard let row = try store.task(named: task) else { throw CommandFailure("no task named '\(task)'") }
                    filter.taskID = row.id
                }
                return try store.runs(filter, before: before, limit: limit)
            }
            print(
                pad("ID", 10) + pad("TASK", 24) + pad("STATUS", 10) + pad("TRY", 4) + pad("STARTED", 28)
                    + pad("EXECUTOR", 24) + "STARTED BY")
            for run in runs {
                print(
                    pad("\(run.id)", 10) + pad(run.taskName ?? "(deleted)", 24) + pad(run.status.rawValue, 10)
                        + pad("\(run.attempt + 1)", 4) + pad(RFC3339.format(run.startedAt), 28) + pad(run.executor, 24)
                        + run.startedBy)
            }
            if runs.count == limit, let last = runs.last {
                FileHandle.standardError.write(Data("more: --before \(last.id)\n".utf8))
            }
        }

        /// `--since`: an RFC 3339 time, or an age counted back from the database's clock.
        static func parseSince(_ text: String) throws -> (Date) -> Date {
            if let date = RFC3339.parse(text) { return { _ in date } }
            let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0,
                amount.isFinite
            else {
                throw ValidationError(
                    "--since takes an RFC 3339 time or an age such as 90s, 30m, 6h, 7d, not '\(text)'")
            }
            return { $0.addingTimeInterval(-amount * unit) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a run with its output.")
        @OptionGroup var common: StoreOptions
        @Argument(help: "The run's id (from `sundial run list`).") var id: Int64

        func run() throws {
            guard let run = try common.withStore({ try $0.run(id: id) }) else { throw CommandFailure("no run \(id)") }
            print("run:         \(run.id)")
            print("task:        \(run.taskName ?? "(deleted task \(run.taskID))")")
            print("status:      \(run.status.rawValue)")
            print("attempt:     \(run.attempt + 1)")
            print("started by:  \(run.startedBy)")
            print("executor:    \(run.executor)")
            print("scheduled:   \(RFC3339.format(run.scheduledFor))")
            print("started:     \(RFC3339.format(run.startedAt))")
            print("finished:    \(run.finishedAt.map { RFC3339.format($0) } ?? "-")")
            if let exit = run.exitCode { print("exit code:   \(exit)") }
            if let error = run.error { print("error:       \(error)") }
            if let output = run.output, !output.isEmpty {
                print("output:")
                print(output, terminator: output.hasSuffix("\n") ? "" : "\n")
            }
        }
    }
}
