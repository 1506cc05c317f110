import Foundation

/// Tasks as people and tools see them: add, list, show, pause, resume, run now, kill, delete, and
/// the scheduling of rows inserted without a `next_run`. Used by the command line, the console
/// and the API, and by executors for new rows.
///
/// Changes to a claimed row are allowed and win over its running fire (`FinishRule`); none of
/// these calls ever clears a claim token.
public protocol TaskCatalog: Sendable {
    /// Inserts a task whose first fire `plan` has computed. Throws `invalid` when the name is
    /// taken.
    func insert(_ task: NewTask, plan: FirePlanner.Plan) throws(StoreError) -> TaskRow

    /// Replaces every setting of a task with `task`'s (its name stays; nil means the column's
    /// default), and with `plan` (when given) as its next fire from attempt 0, or after the last
    /// attempt of that fire on record (a one-shot planned again: its history keeps its runs, and
    /// the next attempt has a run key of its own). False when the task does not exist. A running
    /// fire finishes under the new settings' rules (`FinishRule`).
    func update(taskID: Int64, to task: NewTask, plan: FirePlanner.Plan?) throws(StoreError) -> Bool

    /// Tasks matching `filter` in `filter.order`, at most `limit` after `after` (keyset paging).
    func tasks(_ filter: TaskFilter, after: TaskCursor?, limit: Int) throws(StoreError) -> [TaskRow]

    /// The task named `name`, or nil.
    func task(named name: String) throws(StoreError) -> TaskRow?

    /// A task's latest runs, newest first.
    func runs(ofTask taskID: Int64, limit: Int) throws(StoreError) -> [RunInfo]

    /// Sets `status` from one of `from` to `to`, with `plan` (when given) as the next fire. False
    /// when the task was not in one of those states.
    func changeStatus(
        taskID: Int64, from: Set<TaskStatus>, to: TaskStatus, plan: FirePlanner.Plan?
    ) throws(StoreError) -> Bool

    /// Makes a free, valid task due now, once, as attempt 0 (a finished one-shot runs again), on
    /// behalf of `requester` (who asked: its runs say so). False when the task is claimed
    /// (running) or invalid.
    func runNow(taskID: Int64, requester: String) throws(StoreError) -> Bool

    /// Asks the executors running the task to kill it; returns how many runs were asked.
    func requestKill(taskID: Int64) throws(StoreError) -> Int

    /// Deletes the task; its run history stays. False when there was none.
    func delete(taskID: Int64) throws(StoreError) -> Bool

    /// Rows due now and not claimed (active, free, `next_run` passed), counted up to `cap`: how
    /// far behind the executors are, read by index.
    func dueBacklog(cap: Int) throws(StoreError) -> Int

    /// Active, free rows with a schedule and no `next_run` yet, at most `limit`.
    func unscheduledRows(limit: Int) throws(StoreError) -> [TaskRow]

    /// Gives an unscheduled row its first fire, if it is still free, active and unscheduled.
    func scheduleFirstFire(taskID: Int64, plan: FirePlanner.Plan) throws(StoreError) -> Bool

    /// Marks an unclaimed row invalid with a reason, if it is still free and active.
    func markInvalid(taskID: Int64, error: String) throws(StoreError) -> Bool
}

/// A new task's settings; nil means the column's default.
public struct NewTask: Sendable, Equatable {
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
    /// Alert channels besides the defaults (comma-separated).
    public var alerts: String?
    public var alertLateSeconds: Double?
    /// Series of its own in the metrics.
    public var metrics = false

    public init(name: String, action: String) {
        self.name = name
        self.action = action
    }

    /// The settings of an existing task under a name (to edit it, or to clone it).
    public init(settingsOf row: TaskRow, name: String) {
        self.init(name: name, action: row.action)
        (payload, schedule, timezone) = (row.payload, row.schedule, row.timezone)
        (maxAttempts, backoffSeconds, timeoutSeconds, maxConcurrency) = (
            row.maxAttempts, row.backoffSeconds, row.timeoutSeconds, row.maxConcurrency
        )
        (misfirePolicy, delivery, tags, alerts) = (row.misfirePolicy, row.delivery, row.tags, row.alerts)
        (alertLateSeconds, metrics) = (row.alertLateSeconds, row.metrics)
    }

    /// The row this would insert, with the columns' defaults, before the store gives it an id.
    public var row: TaskRow {
        var row = TaskRow(id: 0, name: name, action: action, payload: payload, schedule: schedule)
        row.timezone = timezone
        if let maxAttempts { row.maxAttempts = maxAttempts }
        if let backoffSeconds { row.backoffSeconds = backoffSeconds }
        if let timeoutSeconds { row.timeoutSeconds = timeoutSeconds }
        if let maxConcurrency { row.maxConcurrency = maxConcurrency }
        if let misfirePolicy { row.misfirePolicy = misfirePolicy }
        if let delivery { row.delivery = delivery }
        row.tags = tags
        row.alerts = alerts
        row.alertLateSeconds = alertLateSeconds
        row.metrics = metrics
        return row
    }
}

/// Which tasks a listing shows.
public struct TaskFilter: Sendable, Equatable {
    public var status: TaskStatus?
    /// Names or actions containing this text (taken literally: `%` and `_` are not wildcards).
    public var search: String?
    /// Tasks of this action only.
    public var action: String?
    /// Tasks with at least one of these tags; nil: any task. (A role limited to tags sets it.)
    public var anyTags: Set<String>?
    /// The order of the listing.
    public var order: TaskOrder

    public init(
        status: TaskStatus? = nil, search: String? = nil, action: String? = nil, anyTags: Set<String>? = nil,
        order: TaskOrder = .name
    ) {
        self.status = status
        self.search = search
        self.action = action
        self.anyTags = anyTags
        self.order = order
    }

    /// Whether a row passes the filter (what stores compute in their own query language).
    public func matches(_ row: TaskRow) -> Bool {
        let search = search.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        return (status == nil || row.status == status)
            && (search.map { row.name.lowercased().contains($0) || row.action.lowercased().contains($0) } ?? true)
            && (action.map { row.action == $0 } ?? true)
            && (anyTags.map { wanted in CommaList.items(row.tags).contains(where: wanted.contains) } ?? true)
    }
}

/// One attempt as history shows it.
public struct RunInfo: Sendable, Equatable {
    public var id: Int64
    public var taskID: Int64
    public var scheduledFor: Date
    public var attempt: Int
    public var executor: String
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: RunStatus
    public var exitCode: Int?
    public var output: String?
    public var error: String?
    /// The task's name, in listings of every task's runs (nil: the task was deleted, or not asked).
    public var taskName: String?
    /// Who asked for the fire this attempt belongs to (`sundial task run`, the console, the
    /// API); nil: its schedule.
    public var requestedBy: String?

    public init(
        id: Int64, taskID: Int64, scheduledFor: Date, attempt: Int, executor: String, startedAt: Date,
        finishedAt: Date?, status: RunStatus, exitCode: Int?, output: String?, error: String?, taskName: String? = nil
    ) {
        (self.id, self.taskID, self.scheduledFor, self.attempt, self.executor) = (
            id, taskID, scheduledFor, attempt, executor
        )
        (self.startedAt, self.finishedAt, self.status) = (startedAt, finishedAt, status)
        (self.exitCode, self.output, self.error, self.taskName) = (exitCode, output, error, taskName)
    }

    /// What started the attempt, in words: its schedule, a retry, or someone's run now.
    public var startedBy: String {
        switch (attempt, requestedBy) {
        case (0, nil): "schedule"
        case (0, let who?): "run now by \(who)"
        case (_, nil): "retry"
        case (_, let who?): "retry of a run now by \(who)"
        }
    }
}
