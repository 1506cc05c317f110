import Foundation
import SundialMySQL
import SundialSchedule

/// What people (the CLI, later the web pages and the API) do to tasks, as SQL over `cron` and
/// `cron_run`. Blocking: call it from threads you own.
public struct TaskAdmin: Sendable {
    public let database: Database
    public let definitions: TaskDefinitions

    public init(database: Database, definitions: TaskDefinitions) {
        self.database = database
        self.definitions = definitions
    }

    /// A new task's settings; nil means the column's default.
    public struct NewTask: Sendable {
        public var name: String
        public var action: String
        public var payload: String?
        public var schedule: String?
        public var timezone: String = "UTC"
        public var maxAttempts: Int?
        public var backoffSeconds: Double?
        public var timeoutSeconds: Double?
        public var maxConcurrency: Int?
        public var misfirePolicy: TaskRow.MisfirePolicy?
        public var delivery: TaskRow.Delivery?
        public var tags: String?

        public init(name: String, action: String) {
            self.name = name
            self.action = action
        }
    }

    public struct AdminError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// Validates and inserts a task, with its first fire computed from the database's clock.
    @discardableResult
    public func add(_ task: NewTask) throws -> TaskRow {
        var row = TaskRow(id: 0, name: task.name, action: task.action, payload: task.payload, schedule: task.schedule)
        row.timezone = task.timezone
        guard !task.name.isEmpty, task.name.count <= 191 else {
            throw AdminError("the name must have 1 to 191 characters")
        }
        let definition: TaskDefinition
        switch definitions.definition(for: row) {
        case .failure(let invalid): throw AdminError(invalid.message)
        case .success(let found): definition = found
        }
        if let n = task.maxAttempts, n < 1 { throw AdminError("--max-attempts must be at least 1") }
        if let n = task.maxConcurrency, n < 1 { throw AdminError("--max-concurrency must be at least 1") }
        if let t = task.timeoutSeconds, !(t > 0) { throw AdminError("--timeout must be above 0") }
        let now = try databaseNow()
        let plan = FirePlanner(row: row, schedule: definition.schedule).firstFire(now: now)
        do {
            try database.execute(
                """
                INSERT INTO cron (name, action, payload, schedule, timezone, next_run, fire_at, status, error, max_attempts, \
                backoff_seconds, timeout_seconds, max_concurrency, misfire_policy, delivery, tags) \
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, 1), COALESCE(?, 10), COALESCE(?, 3600), COALESCE(?, 1), \
                COALESCE(?, 'run_once'), COALESCE(?, 'at_least_once'), ?)
                """,
                [
                    .string(task.name), .string(task.action), .init(task.payload), .init(task.schedule),
                    .string(task.timezone),
                    .init(plan.nextRun), .init(plan.fireAt), .string(plan.status.rawValue), .init(plan.error),
                    .init(task.maxAttempts), task.backoffSeconds.map { .double($0) } ?? .null,
                    task.timeoutSeconds.map { .double($0) } ?? .null, .init(task.maxConcurrency),
                    .init(task.misfirePolicy?.rawValue), .init(task.delivery?.rawValue), .init(task.tags),
                ])
        } catch {
            if error.code == 1062 { throw AdminError("a task named '\(task.name)' already exists") }
            throw error
        }
        return try show(task.name).task
    }

    public func list(status: TaskRow.Status? = nil, search: String? = nil, limit: Int = 100, offset: Int = 0) throws
        -> [TaskRow]
    {
        var sql = "SELECT \(TaskRow.columns) FROM cron WHERE 1 = 1"
        var values: [MySQLValue] = []
        if let status {
            sql += " AND status = ?"
            values.append(.string(status.rawValue))
        }
        if let search, !search.isEmpty {
            sql += " AND (name LIKE ? OR action LIKE ?)"
            let pattern =
                "%" + search.replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
            values += [.string(pattern), .string(pattern)]
        }
        sql += " ORDER BY name LIMIT ? OFFSET ?"
        values += [.int(Int64(limit)), .int(Int64(offset))]
        return try database.query(sql, values, consistency: .primary).map(TaskRow.init(row:))
    }

    /// A task with its latest runs.
    public struct Details: Sendable {
        public var task: TaskRow
        public var runs: [MySQLRow]
        public var databaseNow: Date
    }

    public func show(_ name: String, runs: Int = 10) throws -> Details {
        guard
            let row = try database.query(
                "SELECT \(TaskRow.columns), NOW(6) AS db_now FROM cron WHERE name = ?", [.string(name)],
                consistency: .primary
            ).first
        else { throw AdminError("no task named '\(name)'") }
        let task = TaskRow(row: row)
        let history = try database.query(
            "SELECT id, scheduled_for, attempt, executor, started_at, finished_at, status, exit_code, error, output FROM cron_run WHERE cron_id = ? ORDER BY started_at DESC, id DESC LIMIT ?",
            [.int(task.id), .int(Int64(runs))], consistency: .primary)
        return Details(task: task, runs: history, databaseNow: row["db_now"].date ?? Date())
    }

    public func pause(_ name: String) throws {
        try change(
            name, "UPDATE cron SET status = 'paused' WHERE name = ? AND status = 'active'", or: "it is not active")
    }

    /// Resumes from now: fires missed while paused are skipped.
    public func resume(_ name: String) throws {
        let details = try show(name, runs: 0)
        guard details.task.status == .paused else { throw AdminError("task '\(name)' is not paused") }
        let schedule = try definitions.definition(for: details.task).get().schedule
        let plan = FirePlanner(row: details.task, schedule: schedule).firstFire(now: details.databaseNow)
        try change(
            name,
            "UPDATE cron SET status = 'active', next_run = ?, fire_at = ?, attempt = 0 WHERE name = ? AND status = 'paused'",
            [.init(plan.nextRun), .init(plan.fireAt)], or: "it is not paused")
    }

    /// Runs the task now, once, whatever its schedule (a finished one-shot runs again).
    public func runNow(_ name: String) throws {
        try change(
            name,
            "UPDATE cron SET status = 'active', next_run = NOW(6), fire_at = NOW(6), attempt = 0, error = NULL WHERE name = ? AND task_id IS NULL AND status <> 'invalid'",
            or: "it is running now or invalid")
    }

    /// Asks the executors running it to kill it; returns how many runs were asked.
    public func kill(_ name: String) throws -> Int {
        let task = try show(name, runs: 0).task
        return try database.execute(
            "UPDATE cron_run SET kill_requested_at = NOW(6) WHERE cron_id = ? AND status = 'running' AND kill_requested_at IS NULL",
            [.int(task.id)]
        ).affectedRows
    }

    /// Deletes the task; its run history stays. A run in progress finishes but writes nothing back.
    public func delete(_ name: String) throws {
        try change(name, "DELETE FROM cron WHERE name = ?", or: "it does not exist")
    }

    private func change(_ name: String, _ sql: String, _ values: [MySQLValue] = [], or reason: String) throws {
        let result = try database.execute(sql, values + [.string(name)])
        if result.affectedRows == 0 {
            _ = try show(name, runs: 0)
            throw AdminError("task '\(name)' was not changed: \(reason)")
        }
    }

    private func databaseNow() throws -> Date {
        try database.query("SELECT NOW(6) AS now", consistency: .primary).first?["now"].date ?? Date()
    }
}
