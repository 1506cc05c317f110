import ArgumentParser
import Foundation
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialSchedule

/// `sundial task …`: manage tasks without writing SQL.
struct TaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "task",
        abstract: "Add, list, show, pause, resume, run, kill and delete tasks.",
        subcommands: [Add.self, List.self, Show.self, Pause.self, Resume.self, Run.self, Kill.self, Delete.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a task.")
        @OptionGroup var common: StoreOptions
        @Argument(help: "A unique name.") var name: String
        @Option(help: "shell, http, noop, sleep, fail, or a handler registered from Swift.") var action: String
        @Option(help: "The action's settings as a JSON object.") var payload: String?
        @Option(help: "Cron expression, @every 90s, @at <RFC 3339>; none: run once, now.") var schedule: String?
        @Option(help: "IANA time zone of the schedule.") var tz = "UTC"
        @Option(help: "Attempts per fire before giving up (default 1).") var maxAttempts: Int?
        @Option(help: "Seconds before the first retry; doubles each time (default 10).") var backoff: Double?
        @Option(help: "Seconds a run may take (default 3600).") var timeout: Double?
        @Option(help: "Runs of this task at once (default 1: never overlaps).") var maxConcurrency: Int?
        @Option(help: "run_once, skip or run_all (default run_once).") var misfire: String?
        @Option(help: "at_least_once or at_most_once (default at_least_once).") var delivery: String?
        @Option(help: "Only executors with one of these tags (comma-separated).") var tags: String?
        @Option(help: "Alert channels for this task besides the defaults (comma-separated names).") var alerts: String?
        @Option(help: "Seconds after its time a fire not started is `missed` (default: the settings').")
        var alertLate: Double?
        @Flag(help: "Give the task series of its own in /metrics (sundial_task_*{task}).") var metrics = false

        func run() throws {
            var task = NewTask(name: name, action: action)
            task.payload = payload
            task.schedule = schedule
            task.timezone = tz
            task.maxAttempts = maxAttempts
            task.backoffSeconds = backoff
            task.timeoutSeconds = timeout
            task.maxConcurrency = maxConcurrency
            task.tags = tags
            task.alerts = alerts
            if let alertLate {
                guard alertLate.isFinite, alertLate >= 0 else {
                    throw ValidationError("--alert-late must be 0 or more")
                }
                task.alertLateSeconds = alertLate
            }
            task.metrics = metrics
            if let misfire {
                guard let policy = TaskRow.MisfirePolicy(rawValue: misfire) else {
                    throw ValidationError("--misfire must be run_once, skip or run_all")
                }
                task.misfirePolicy = policy
            }
            if let delivery {
                guard let value = TaskRow.Delivery(rawValue: delivery) else {
                    throw ValidationError("--delivery must be at_least_once or at_most_once")
                }
                task.delivery = value
            }
            let row = try common.withAdmin { try $0.add(task) }
            print("added \(row.name) (id \(row.id)), next run \(row.nextRun.map { RFC3339.format($0) } ?? "none")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tasks.")
        @OptionGroup var common: StoreOptions
        @Option(help: "Only this status: active, paused, done, invalid, dead.") var status: String?
        @Option(help: "Only names or actions containing this.") var search: String?
        @Option(help: "Order: name, next_run (soonest first) or last_result (failing first).") var sort = "name"
        @Option(help: "Rows per page.") var limit = 100
        @Option(help: "Page (from 1).") var page = 1

        func run() throws {
            var wanted: TaskRow.Status? = nil
            if let status {
                guard let value = TaskRow.Status(rawValue: status) else {
                    throw ValidationError("--status must be one of active, paused, done, invalid, dead")
                }
                wanted = value
            }
            guard limit >= 1, page >= 1 else { throw ValidationError("--limit and --page must be at least 1") }
            guard let order = TaskOrder(rawValue: sort) else {
                throw ValidationError("--sort must be one of name, next_run, last_result")
            }
            let filter = TaskFilter(status: wanted, search: search, order: order)
            let rows = try common.withAdmin { admin in
                // Keyset pages: each page starts after the last row of the one before.
                var after: TaskCursor?
                for _ in 1..<page {
                    guard let last = try admin.list(filter, after: after, limit: limit).last else { return [TaskRow]() }
                    after = TaskCursor(after: last, order: order)
                }
                return try admin.list(filter, after: after, limit: limit)
            }
            print(pad("NAME", 24) + pad("ACTION", 8) + pad("STATUS", 9) + pad("NEXT RUN", 22) + "SCHEDULE")
            for row in rows {
                print(
                    pad(row.name, 24) + pad(row.action, 8) + pad(row.status.rawValue, 9)
                        + pad(row.nextRun.map { RFC3339.format($0) } ?? "-", 22) + (row.schedule ?? "(once)"))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a task, its next fires and its latest runs.")
        @OptionGroup var common: StoreOptions
        @Argument var name: String

        func run() throws {
            let details = try common.withAdmin { try $0.show(name) }
            let t = details.task
            print("name:        \(t.name) (id \(t.id))")
            print("action:      \(t.action) \(t.payload ?? "")")
            print("schedule:    \(t.schedule ?? "(once)") [\(t.timezone)]")
            if let text = t.schedule, let schedule = try? Schedule(text, timeZone: t.timezone) {
                print("             \(schedule.description)")
                let fires = schedule.next(after: details.databaseNow, count: 3).map {
                    RFC3339.format($0, utcOffset: schedule.utcOffset(at: $0))
                }
                print("next fires:  \(fires.joined(separator: ", "))")
            }
            print("status:      \(t.status.rawValue)\(t.claimedBy.map { ", claimed by \($0)" } ?? "")")
            if let waiting = details.waiting { print("waiting:     \(waiting)") }
            print(
                "next run:    \(t.nextRun.map { RFC3339.format($0) } ?? "-") (attempt \(t.attempt + 1) of \(t.maxAttempts))"
            )
            if let error = t.error { print("error:       \(error)") }
            print(
                "policy:      misfire \(t.misfirePolicy.rawValue), \(t.delivery.rawValue), concurrency \(t.maxConcurrency), timeout \(t.timeoutSeconds.map { "\($0) s" } ?? "none")"
            )
            var health = t.failing ? "failing (its last fire's last attempt did not succeed)" : "ok"
            health += ", last success \(t.lastSuccessAt.map { RFC3339.format($0) } ?? "never")"
            print("health:      \(health)")
            let late = t.alertLateSeconds.map { "late after \($0) s" } ?? "late after the settings' late_seconds"
            print(
                "alerts:      \(t.alerts.map { "defaults + \($0)" } ?? "defaults"), \(late)\(t.metrics ? ", own metric series" : "")"
            )
            print("runs:")
            for run in details.runs {
                var duration = "running"
                if let end = run.finishedAt {
                    duration = String(format: "%.3f s", end.timeIntervalSince(run.startedAt))
                }
                print(
                    "  \(RFC3339.format(run.startedAt))  #\(run.attempt + 1)  \(pad(run.status.rawValue, 10)) \(duration)  exit \(run.exitCode.map(String.init) ?? "-")  \(run.executor)  \(run.error ?? "")"
                )
            }
        }
    }

    struct Pause: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop scheduling a task (a run in progress finishes).")
        @OptionGroup var common: StoreOptions
        @Argument var name: String
        func run() throws {
            try common.withAdmin { try $0.pause(name) }
            print("paused \(name)")
        }
    }

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Schedule a paused task again, from now.")
        @OptionGroup var common: StoreOptions
        @Argument var name: String
        func run() throws {
            try common.withAdmin { try $0.resume(name) }
            print("resumed \(name)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a task now, once.")
        @OptionGroup var common: StoreOptions
        @Argument var name: String
        func run() throws {
            try common.withAdmin { try $0.runNow(name, requester: StoreOptions.commandLineUser) }
            print("\(name) will run now")
        }
    }

    struct Kill: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Kill a task's running runs (within a heartbeat).")
        @OptionGroup var common: StoreOptions
        @Argument var name: String
        func run() throws {
            let count = try common.withAdmin { try $0.kill(name) }
            print(count == 0 ? "\(name) is not running" : "asked to kill \(count) run(s) of \(name)")
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a task (its run history stays).")
        @OptionGroup var common: StoreOptions
        @Argument var name: String
        func run() throws {
            try common.withAdmin { try $0.delete(name) }
            print("deleted \(name)")
        }
    }
}

/// A column of a listing: `text` padded to `width`, with a space after it at least.
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
