import Foundation
import SundialCore

extension InMemoryStore: TaskCatalog {
    public func insert(_ task: NewTask, plan: FirePlanner.Plan) throws(StoreError) -> TaskRow {
        try call(.insert) { (state: inout State, _: Date) throws(StoreError) -> TaskRow in
            guard !state.tasks.values.contains(where: { TaskName.same($0.name, task.name) }) else {
                throw StoreError(.invalid, "a task named '\(task.name)' already exists")
            }
            var row = task.row
            row.id = state.nextTaskID
            state.nextTaskID += 1
            row.nextRun = plan.nextRun
            row.fireAt = plan.fireAt
            row.status = plan.status
            row.error = plan.error
            row.version = RowVersion(state.nextVersion)
            state.nextVersion += 1
            state.tasks[row.id] = row
            return row
        }
    }

    public func update(taskID: Int64, to task: NewTask, plan: FirePlanner.Plan?) throws(StoreError) -> Bool {
        try call(.update) { state, _ in
            guard state.tasks[taskID] != nil else { return false }
            // A fire with attempts on record, or claimed now (a one-shot planned again), goes on
            // after the last.
            let tried = state.runs.values.filter {
                $0.record.taskID == taskID && $0.record.scheduledFor == plan?.fireAt
            }
            var attempt = tried.map { $0.record.attempt + 1 }.max() ?? 0
            if let claimed = state.tasks[taskID]?.claimedAttemptKey, claimed.fire == plan?.fireAt {
                attempt = max(attempt, claimed.attempt + 1)
            }
            state.update(taskID) { row in
                let settings = task.row
                (row.action, row.payload, row.schedule, row.timezone) = (
                    settings.action, settings.payload, settings.schedule, settings.timezone
                )
                (row.maxAttempts, row.backoffSeconds, row.timeoutSeconds, row.maxConcurrency) = (
                    settings.maxAttempts, settings.backoffSeconds, settings.timeoutSeconds, settings.maxConcurrency
                )
                (row.misfirePolicy, row.delivery, row.tags, row.alerts) = (
                    settings.misfirePolicy, settings.delivery, settings.tags, settings.alerts
                )
                (row.alertLateSeconds, row.metrics) = (settings.alertLateSeconds, settings.metrics)
                if let plan {
                    (row.nextRun, row.fireAt, row.attempt, row.status, row.error) = (
                        plan.nextRun, plan.fireAt, attempt, plan.status, plan.error
                    )
                }
            }
            return true
        }
    }

    public func tasks(_ filter: TaskFilter, after: TaskCursor?, limit: Int) throws(StoreError) -> [TaskRow] {
        try call(.tasks) { state, _ in
            let order = filter.order
            return Array(
                state.tasks.values.filter { row in
                    filter.matches(row) && (after.map { $0 < TaskCursor(after: row, order: order) } ?? true)
                }
                .sorted { order.precedes($0, $1) }.prefix(max(0, limit)))
        }
    }

    public func task(named name: String) throws(StoreError) -> TaskRow? {
        try call(.task) { state, _ in state.tasks.values.first { TaskName.same($0.name, name) } }
    }

    public func runs(ofTask taskID: Int64, limit: Int) throws(StoreError) -> [RunInfo] {
        try call(.runs) { state, _ in
            state.runs.values.filter { $0.record.taskID == taskID }
                .sorted { ($0.record.scheduledFor, $0.record.attempt) > ($1.record.scheduledFor, $1.record.attempt) }
                .prefix(max(0, limit))
                .map { Self.info($0, taskName: nil) }
        }
    }

    public func changeStatus(
        taskID: Int64, from: Set<TaskStatus>, to: TaskStatus, plan: FirePlanner.Plan?
    ) throws(StoreError) -> Bool {
        try call(.changeStatus) { state, _ in
            guard let row = state.tasks[taskID], from.contains(row.status) else { return false }
            var plan = plan
            if var resumed = plan, let fire = resumed.fireAt, fire == row.fireAt {
                // The same fire: its attempts go on after the last one on record.
                let tried = state.runs.values.filter { $0.record.taskID == taskID && $0.record.scheduledFor == fire }
                if let last = tried.map(\.record.attempt).max() { resumed.attempt = max(resumed.attempt, last + 1) }
                plan = resumed
            }
            state.update(taskID) {
                if let plan { $0.take(plan) }
                $0.status = to
            }
            return true
        }
    }

    public func dueBacklog(cap: Int) throws(StoreError) -> Int {
        try call(.dueBacklog) { state, now in
            min(
                cap,
                state.tasks.values.count { row in
                    guard row.status == .active && row.claimToken == nil else { return false }
                    guard let next = row.nextRun else { return (row.schedule ?? "").isEmpty }
                    return next <= now
                })
        }
    }

    public func runNow(taskID: Int64, requester: String) throws(StoreError) -> Bool {
        try call(.runNow) { state, now in
            guard let row = state.tasks[taskID], row.claimToken == nil, row.status != .invalid else { return false }
            state.update(taskID) {
                $0.status = .active
                $0.nextRun = now
                $0.fireAt = now
                $0.attempt = 0
                $0.error = nil
                $0.requestedBy = String(String.UnicodeScalarView(requester.unicodeScalars.prefix(191)))
                $0.requestedFire = now
            }
            return true
        }
    }

    public func requestKill(taskID: Int64) throws(StoreError) -> Int {
        try call(.requestKill) { state, _ in
            var asked = 0
            for (key, run) in state.runs.sorted(by: { $0.key < $1.key })
            where run.record.taskID == taskID && run.record.status == .running && !run.killRequested {
                state.runs[key]?.killRequested = true
                asked += 1
            }
            return asked
        }
    }

    public func delete(taskID: Int64) throws(StoreError) -> Bool {
        try call(.delete) { state, _ in state.tasks.removeValue(forKey: taskID) != nil }
    }

    public func unscheduledRows(limit: Int) throws(StoreError) -> [TaskRow] {
        try call(.unscheduledRows) { state, _ in
            Array(
                state.tasks.values.filter {
                    $0.status == .active && $0.nextRun == nil && $0.claimToken == nil && !($0.schedule ?? "").isEmpty
                }.sorted { $0.id < $1.id }.prefix(max(0, limit)))
        }
    }

    public func scheduleFirstFire(taskID: Int64, plan: FirePlanner.Plan) throws(StoreError) -> Bool {
        try call(.scheduleFirstFire) { state, _ in
            guard let row = state.tasks[taskID], row.claimToken == nil, row.nextRun == nil, row.status == .active
            else { return false }
            state.update(taskID) {
                $0.take(plan)
                $0.attempt = 0
            }
            return true
        }
    }

    public func markInvalid(taskID: Int64, error: String) throws(StoreError) -> Bool {
        try call(.markInvalidUnclaimed) { state, _ in
            guard let row = state.tasks[taskID], row.claimToken == nil, row.status == .active else { return false }
            state.update(taskID) {
                $0.status = .invalid
                $0.error = error
            }
            return true
        }
    }
}

extension InMemoryStore: RunRetention {
    public func pruneRuns(_ policy: RetentionPolicy, limit: Int) throws(StoreError) -> Int {
        try call(.pruneRuns) { state, now in
            guard limit > 0 else { return 0 }
            var deleted = 0
            let inPlay = state.firesInPlay
            if let age = policy.maxAge {
                let cutoff = now.addingTimeInterval(-age.timeInterval)
                let window = state.runs.values.filter { $0.id > state.ageCursor }.sorted { $0.id < $1.id }.prefix(limit)
                let reachedYoungRuns = window.count < limit || window.contains { $0.record.startedAt >= cutoff }
                state.ageCursor = reachedYoungRuns ? 0 : (window.last?.id ?? 0)
                for run in window
                where run.record.status != .running && run.record.startedAt < cutoff
                    && (run.record.retryAt == nil || state.tasks[run.record.taskID] == nil)
                    && !inPlay.contains(FireKey(run.record))
                {
                    state.runs[run.record.key] = nil
                    deleted += 1
                }
            }
            guard let keep = policy.keepPerTask, deleted < limit else { return deleted }
            let tasks = state.tasks.keys.filter { $0 > state.pruneCursor }.sorted().prefix(50)
            state.pruneCursor = tasks.count < 50 ? 0 : (tasks.last ?? 0)
            for task in tasks where deleted < limit {
                let newestFirst = state.runs.values.filter { $0.record.taskID == task }
                    .sorted {
                        ($0.record.scheduledFor, $0.record.attempt) > ($1.record.scheduledFor, $1.record.attempt)
                    }
                guard newestFirst.count > keep else { continue }
                for run in newestFirst[keep...].reversed()
                where deleted < limit && run.record.status != .running && run.record.retryAt == nil
                    && !inPlay.contains(FireKey(run.record))
                {
                    state.runs[run.record.key] = nil
                    deleted += 1
                }
            }
            return deleted
        }
    }

    public func pruneExecutors(_ policy: RetentionPolicy, limit: Int) throws(StoreError) -> Int {
        try call(.pruneExecutors) { state, now in
            let cutoff = now.addingTimeInterval(-policy.executorAge.timeInterval)
            var deleted = 0
            for (id, entry) in state.executors.sorted(by: { $0.key < $1.key })
            where deleted < limit && (entry.state == .stopped || entry.state == .dead)
                && entry.leaseExpiresAt < cutoff
                && !state.tasks.values.contains(where: { $0.claimToken != nil && $0.claimedBy == id })
                && !state.runs.values.contains(where: { $0.record.status == .running && $0.record.executor == id })
            {
                state.executors[id] = nil
                deleted += 1
            }
            return deleted
        }
    }
}

/// A task's fire, whatever the attempt.
struct FireKey: Hashable {
    var task: Int64
    var fire: Date

    init(task: Int64, fire: Date) {
        (self.task, self.fire) = (task, fire)
    }

    init(_ run: RunRecord) {
        self.init(task: run.taskID, fire: run.scheduledFor)
    }
}

extension InMemoryStore.State {
    /// Fires not settled (the MySQL store's `fireSettled`): an attempt of them runs or waits for
    /// a retry, or their task (active or paused) is on them; a gone task's fires are settled.
    /// Their runs are kept: lost attempts count toward max_attempts, and run keys keep an
    /// at_most_once fire from starting twice.
    var firesInPlay: Set<FireKey> {
        var fires = Set(
            runs.values.filter {
                tasks[$0.record.taskID] != nil && ($0.record.status == .running || $0.record.retryAt != nil)
            }.map { FireKey($0.record) })
        for row in tasks.values where row.status == .active || row.status == .paused {
            // As the claim reads it: `next_run` when an edit left `fire_at` NULL.
            if let fire = row.fireAt ?? row.nextRun { fires.insert(FireKey(task: row.id, fire: fire)) }
        }
        return fires
    }
}

/// Task names compared as MySQL's `utf8mb4_unicode_ci` column compares them: case and accents
/// aside, trailing spaces ignored (`Report` and `report ` are one name).
enum TaskName {
    static func same(_ a: String, _ b: String) -> Bool {
        func trimmed(_ name: String) -> Substring {
            var name = Substring(name)
            while name.last == " " { name.removeLast() }
            return name
        }
        return String(trimmed(a)).compare(String(trimmed(b)), options: [.caseInsensitive, .diacriticInsensitive])
            == .orderedSame
    }
}
