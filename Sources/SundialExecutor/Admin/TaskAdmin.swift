import Foundation
import SundialActions
import SundialCore
import SundialSchedule

/// What people (the command line, the web console, the API) do to tasks, validated by the same
/// code the executor uses, over any store. Blocking: call it from threads you own.
public struct TaskAdmin: Sendable {
    public let store: any SundialStore
    public let definitions: TaskDefinitions

    public init(store: any SundialStore, definitions: TaskDefinitions) {
        self.store = store
        self.definitions = definitions
    }

    /// A refusal, in words for the person who asked.
    public struct AdminError: Error, CustomStringConvertible, Sendable {
        /// What kind of refusal it is, for those who answer with a status (the API).
        public enum Reason: Sendable {
            /// A setting is wrong (`field` says which).
            case invalid
            /// The task does not exist.
            case notFound
            /// The task is not in a state that allows it, or the name is taken.
            case conflict
        }

        public let description: String
        /// The setting at fault (a column's name: `schedule`, `payload`, `max_attempts`, …), if one is.
        public let field: String?
        public let reason: Reason

        public init(_ description: String, field: String? = nil, reason: Reason = .invalid) {
            self.description = description
            self.field = field
            self.reason = reason
        }
    }

    /// Validates and inserts a task, with its first fire computed from the store's clock. An
    /// action no handler here knows is accepted when a live executor advertises it.
    @discardableResult
    public func add(_ task: NewTask) throws -> TaskRow {
        let plan = try check(task)
        if plan.status == .invalid, let error = plan.error { throw AdminError(error, field: "schedule") }
        let inserted: StoreError
        do {
            return try store.insert(task, plan: plan)
        } catch {
            inserted = error
        }
        if inserted.kind == .invalid {
            throw AdminError("a task named '\(task.name)' already exists", field: "name", reason: .conflict)
        }
        throw inserted
    }

    /// Checks a task's settings as the executor will (the action's rules for its payload, the
    /// schedule, the zone) and plans its first fire from the store's clock. Each refusal names
    /// the setting at fault.
    public func check(_ task: NewTask) throws -> FirePlanner.Plan {
        guard !task.name.isEmpty, task.name.count <= 191 else {
            throw AdminError("the name must have 1 to 191 characters", field: "name")
        }
        if let n = task.maxAttempts, n < 1 {
            throw AdminError("max attempts must be at least 1", field: "max_attempts")
        }
        if let n = task.maxConcurrency, n < 1 {
            throw AdminError("max concurrency must be at least 1", field: "max_concurrency")
        }
        if let t = task.timeoutSeconds, !(t > 0 && t.isFinite) {
            throw AdminError("the timeout must be above 0 seconds", field: "timeout_seconds")
        }
        if let b = task.backoffSeconds, !(b >= 0 && b.isFinite) {
            throw AdminError("the backoff must be 0 seconds or more", field: "backoff_seconds")
        }
        if let late = task.alertLateSeconds, !(late >= 0 && late.isFinite) {
            throw AdminError("the lateness for alerts must be 0 seconds or more", field: "alert_late_seconds")
        }
        let row = task.row
        let schedule: Schedule?
        switch definitions.definition(for: row) {
        case .failure(let invalid) where invalid.isUnknownAction:
            let live = try store.executors().filter { $0.state == .running }
            guard live.contains(where: { $0.actions.contains(task.action) }) else {
                throw AdminError(
                    "unknown action '\(task.action)': no handler here (\(definitions.handlers.actions.joined(separator: ", "))) and no running executor advertises it",
                    field: "action")
            }
            schedule = try definitions.schedule(for: row).mapError { Self.refusal($0) }.get()
        case .failure(let invalid):
            throw Self.refusal(invalid)
        case .success(let found):
            schedule = found.schedule
        }
        return FirePlanner(row: row, schedule: schedule).firstFire(now: try store.now())
    }

    /// A definition's refusal, with the setting it is about.
    static func refusal(_ invalid: InvalidTask) -> AdminError {
        let message = invalid.message
        let field =
            message.hasPrefix("schedule")
            ? "schedule"
            : message.contains("time zone") ? "timezone" : invalid.isUnknownAction ? "action" : "payload"
        return AdminError(message, field: field)
    }

    /// Replaces a task's settings (its name stays), checked as `add` checks them. The next fire
    /// is planned afresh when the schedule or the zone changed, or the task was invalid;
    /// otherwise the pending fire stays.
    public func update(_ name: String, to task: NewTask) throws {
        let current = try named(name)
        var task = task
        task.name = current.name
        let plan = try check(task)
        if plan.status == .invalid, let error = plan.error { throw AdminError(error, field: "schedule") }
        // A new schedule is planned afresh, and so is a recurring one in a new zone, and an
        // invalid task. A finished one-shot whose schedule did not change stays finished (a new
        // zone does not move an instant), and a paused task stays paused.
        let finished = current.status == .done || current.status == .dead
        let replan =
            current.schedule != task.schedule || current.status == .invalid
            || (current.timezone != task.timezone && !finished)
        var next: FirePlanner.Plan? = nil
        if replan {
            next = plan
            if current.status == .paused { next?.status = .paused }
        }
        guard try store.update(taskID: current.id, to: task, plan: next) else {
            throw AdminError("task '\(name)' was not changed: it does not exist", reason: .notFound)
        }
    }

    /// Tasks in the filter's order, `limit` per page after `after`.
    public func list(_ filter: TaskFilter = TaskFilter(), after: TaskCursor? = nil, limit: Int = 100) throws
        -> [TaskRow]
    {
        try store.tasks(filter, after: after, limit: limit)
    }

    /// A task with its latest runs.
    public struct Details: Sendable {
        public var task: TaskRow
        public var runs: [RunInfo]
        public var databaseNow: Date
        /// Why an active task is not being run, if no live executor can run it.
        public var waiting: String?
    }

    public func show(_ name: String, runs: Int = 10) throws -> Details {
        let task = try named(name)
        let history = try store.runs(ofTask: task.id, limit: runs)
        var waiting: String?
        if task.status == .active {
            let live = try store.executors().filter { $0.state == .running }
            if !live.contains(where: { $0.actions.contains(task.action) }) {
                waiting = "no running executor runs the action '\(task.action)'; the task waits until one does"
            }
        }
        return Details(task: task, runs: history, databaseNow: try store.now(), waiting: waiting)
    }

    public func pause(_ name: String) throws {
        let task = try named(name)
        guard try store.changeStatus(taskID: task.id, from: [.active], to: .paused, plan: nil) else {
            throw AdminError("task '\(name)' was not changed: it is not active", reason: .conflict)
        }
    }

    /// Resumes from now: fires missed while paused are skipped.
    /// Resumes a paused task from now; also gives an invalid one another chance once its
    /// schedule and zone check out here (after a fix of the row, or a newer time zone database).
    public func resume(_ name: String) throws {
        let task = try named(name)
        guard task.status == .paused || task.status == .invalid else {
            throw AdminError("task '\(name)' is not paused or invalid", reason: .conflict)
        }
        let schedule = try definitions.schedule(for: task).mapError { AdminError($0.message) }.get()
        let plan = FirePlanner(row: task, schedule: schedule).firstFire(now: try store.now())
        if plan.status == .invalid { throw AdminError(plan.error ?? "task '\(name)' cannot be scheduled") }
        guard try store.changeStatus(taskID: task.id, from: [task.status], to: plan.status, plan: plan) else {
            throw AdminError(
                "task '\(name)' was not changed: it is no longer \(task.status.rawValue)", reason: .conflict)
        }
    }

    /// Runs the task now, once, whatever its schedule (a finished one-shot runs again); its runs
    /// say that `requester` asked.
    public func runNow(_ name: String, requester: String) throws {
        let task = try named(name)
        guard try store.runNow(taskID: task.id, requester: requester) else {
            throw AdminError("task '\(name)' was not changed: it is running now or invalid", reason: .conflict)
        }
    }

    /// Asks the executors running it to kill it; returns how many runs were asked.
    public func kill(_ name: String) throws -> Int {
        try store.requestKill(taskID: try named(name).id)
    }

    /// Deletes the task; its run history stays. A run in progress finishes but writes nothing back.
    public func delete(_ name: String) throws {
        guard try store.delete(taskID: try named(name).id) else {
            throw AdminError("task '\(name)' was not changed: it does not exist", reason: .notFound)
        }
    }

    private func named(_ name: String) throws -> TaskRow {
        guard let task = try store.task(named: name) else {
            throw AdminError("no task named '\(name)'", reason: .notFound)
        }
        return task
    }
}
