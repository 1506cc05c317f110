import Foundation
import SundialCore
import SundialMySQL

extension MySQLStore: TaskCatalog {
    public func insert(_ task: NewTask, plan: FirePlanner.Plan) throws(StoreError) -> TaskRow {
        try mapped {
            let id = try database.execute(
                """
                INSERT INTO cron (name, action, payload, schedule, timezone, next_run, fire_at, status, error, max_attempts, \
                backoff_seconds, timeout_seconds, max_concurrency, misfire_policy, delivery, tags, alerts, alert_late_seconds, metrics) \
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, 1), COALESCE(?, 10), COALESCE(?, 3600), COALESCE(?, 1), \
                COALESCE(?, 'run_once'), COALESCE(?, 'at_least_once'), ?, ?, ?, ?)
                """,
                [
                    .string(task.name), .string(task.action), .init(task.payload), .init(task.schedule),
                    .string(task.timezone), .init(plan.nextRun), .init(plan.fireAt), .string(plan.status.rawValue),
                    .init(plan.error), .init(task.maxAttempts), task.backoffSeconds.map { .double($0) } ?? .null,
                    task.timeoutSeconds.map { .double($0) } ?? .null, .init(task.maxConcurrency),
                    .init(task.misfirePolicy?.rawValue), .init(task.delivery?.rawValue), .init(task.tags),
                    .init(task.alerts), task.alertLateSeconds.map { .double($0) } ?? .null, .int(task.metrics ? 1 : 0),
                ]
            ).lastInsertID
            guard let row = try fetch("id = ?", [.int(Int64(id))]) else {
                throw StoreError(.notFound, "the new task \(task.name) was not found after insertion")
            }
            return row
        }
    }

    public func update(taskID: Int64, to task: NewTask, plan: FirePlanner.Plan?) throws(StoreError) -> Bool {
        var sql = """
            UPDATE cron SET action = ?, payload = ?, schedule = ?, timezone = ?, max_attempts = COALESCE(?, 1), \
            backoff_seconds = COALESCE(?, 10), timeout_seconds = COALESCE(?, 3600), max_concurrency = COALESCE(?, 1), \
            misfire_policy = COALESCE(?, 'run_once'), delivery = COALESCE(?, 'at_least_once'), tags = ?, alerts = ?, \
            alert_late_seconds = ?, metrics = ?
            """
        var values: [MySQLValue] = [
            .string(task.action), .init(task.payload), .init(task.schedule), .string(task.timezone),
            .init(task.maxAttempts), task.backoffSeconds.map { .double($0) } ?? .null,
            task.timeoutSeconds.map { .double($0) } ?? .null, .init(task.maxConcurrency),
            .init(task.misfirePolicy?.rawValue), .init(task.delivery?.rawValue), .init(task.tags), .init(task.alerts),
            task.alertLateSeconds.map { .double($0) } ?? .null, .int(task.metrics ? 1 : 0),
        ]
        if let plan {
            // A fire with attempts on record, or claimed now (a one-shot planned again), goes on
            // after the last. `attempt` is set first: it reads the claim as it stands.
            sql += """
                , attempt = GREATEST((SELECT COALESCE(MAX(r.attempt) + 1, 0) FROM cron_run r WHERE r.cron_id = cron.id \
                AND r.scheduled_for = ?), IF(task_id IS NOT NULL AND claimed_token <=> task_id AND claimed_fire <=> ?, \
                claimed_attempt + 1, 0)), next_run = ?, fire_at = ?, status = ?, error = ?
                """
            values += [
                .init(plan.fireAt), .init(plan.fireAt), .init(plan.nextRun), .init(plan.fireAt),
                .string(plan.status.rawValue), .init(plan.error),
            ]
        }
        return try mapped {
            // Found by id; a write that changes nothing still finds the row.
            let changed = try database.execute(sql + " WHERE id = ?", values + [.int(taskID)]).affectedRows
            return try changed == 1 || fetch("id = ?", [.int(taskID)]) != nil
        }
    }

    public func tasks(_ filter: TaskFilter, after: TaskCursor?, limit: Int) throws(StoreError) -> [TaskRow] {
        // The order's groups one after the other, each one range of an index in its own order
        // (keyset pages, never a sort): from the cursor's group on, and within it after the cursor.
        let cursor = after.flatMap { $0.order == filter.order ? $0 : nil }
        var rows: [TaskRow] = []
        for (index, group) in filter.order.groups.enumerated() where rows.count < limit {
            if let cursor, index < cursor.group { continue }
            // A group of another status than the filter's has nothing to give.
            if let wanted = filter.status, let status = group.status, wanted != status { continue }
            var conditions: [String] = []
            var values: [MySQLValue] = []
            if let status = group.status {
                conditions.append("status = ?")
                values.append(.string(status.rawValue))
            }
            if let scheduled = group.scheduled {
                conditions.append(scheduled ? "next_run IS NOT NULL" : "next_run IS NULL")
            }
            if let failing = group.failing { conditions.append(failing ? "failing = 1" : "failing = 0") }
            if let cursor, index == cursor.group {
                if group.byNextRun, let at = cursor.nextRun {
                    conditions.append("(next_run > ? OR (next_run = ? AND name > ?))")
                    values += [.date(at), .date(at), .string(cursor.name)]
                } else {
                    conditions.append("name > ?")
                    values.append(.string(cursor.name))
                }
            }
            // Read by name, a group that does not look at the next run reads the names' own
            // indexes: the optimizer, unable to judge a `LIKE '%…%'`, would otherwise read a
            // status's rows by next run and sort them (183 ms at 100k tasks).
            let byNameOnly = !group.byNextRun && group.scheduled == nil
            rows += try tasks(
                filter, group: (conditions.isEmpty ? ["1 = 1"] : conditions).joined(separator: " AND "),
                values: values, orderBy: group.byNextRun ? "next_run, name" : "name",
                index: byNameOnly ? " IGNORE INDEX (cron_status_next_run)" : "", limit: limit - rows.count)
        }
        return rows
    }

    /// One group's page: rows meeting `group` (with its `values`) and the filter, in `orderBy`,
    /// with an index hint (`index`, SQL after the table's name) when there is one.
    private func tasks(
        _ filter: TaskFilter, group: String, values groupValues: [MySQLValue], orderBy: String, index: String,
        limit: Int
    ) throws(StoreError) -> [TaskRow] {
        try mapped {
            var sql = "SELECT \(TaskRow.columns) FROM cron\(index) WHERE \(group)"
            var values = groupValues
            if let status = filter.status {
                sql += " AND status = ?"
                values.append(.string(status.rawValue))
            }
            if let search = filter.search, !search.isEmpty {
                sql += " AND (name LIKE ? OR action LIKE ?)"
                let escaped = search.replacingOccurrences(of: "\\", with: "\\\\")
                    .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
                values += [.string("%\(escaped)%"), .string("%\(escaped)%")]
            }
            if let action = filter.action {
                sql += " AND CAST(action AS BINARY) = ?"
                values.append(.string(action))
            }
            if filter.anyTags != nil {
                // `tags` is a comma-separated list, spaces allowed around the commas.
                let (tags, tagValues) = Self.tagCondition(filter.anyTags, column: "tags")
                sql += " AND " + tags
                values += tagValues
            }
            sql += " ORDER BY \(orderBy) LIMIT ?"
            values.append(.int(Int64(max(0, limit))))
            return try read(sql, values, consistency: .primary).map(TaskRow.init(mysql:))
        }
    }

    public func task(named name: String) throws(StoreError) -> TaskRow? {
        try mapped { try fetch("name = ?", [.string(name)]) }
    }

    private func fetch(_ condition: String, _ values: [MySQLValue]) throws -> TaskRow? {
        try read("SELECT \(TaskRow.columns) FROM cron WHERE \(condition)", values, consistency: .primary)
            .first.map(TaskRow.init(mysql:))
    }

    public func runs(ofTask taskID: Int64, limit: Int) throws(StoreError) -> [RunInfo] {
        try mapped {
            try read(
                MySQLStoreSQL.runsOfTask, [.int(taskID), .int(Int64(max(0, limit)))], consistency: .primary
            ).map(RunInfo.init(mysql:))
        }
    }

    public func changeStatus(
        taskID: Int64, from: Set<TaskStatus>, to: TaskStatus, plan: FirePlanner.Plan?
    ) throws(StoreError) -> Bool {
        guard !from.isEmpty else { return false }
        let states = from.map { MySQLValue.string($0.rawValue) }
        return try mapped {
            if let plan {
                // `attempt` is set before `fire_at`: MySQL applies the assignments in order, so
                // the comparison reads the fire the row held.
                return try database.execute(
                    """
                    UPDATE cron SET status = ?, \
                    attempt = IF(fire_at <=> ?, GREATEST(?, (SELECT COALESCE(MAX(r.attempt) + 1, 0) FROM cron_run r \
                    WHERE r.cron_id = cron.id AND r.scheduled_for = cron.fire_at)), ?), \
                    next_run = ?, fire_at = ?, error = ? WHERE id = ? AND status IN \(InList.placeholders(states.count))
                    """,
                    [
                        .string(to.rawValue), .init(plan.fireAt), .int(Int64(plan.attempt)), .int(Int64(plan.attempt)),
                        .init(plan.nextRun), .init(plan.fireAt), .init(plan.error), .int(taskID),
                    ] + states
                ).affectedRows == 1
            }
            return try database.execute(
                "UPDATE cron SET status = ? WHERE id = ? AND status IN \(InList.placeholders(states.count))",
                [.string(to.rawValue), .int(taskID)] + states
            ).affectedRows == 1
        }
    }

    public func dueBacklog(cap: Int) throws(StoreError) -> Int {
        try mapped {
            min(
                cap,
                try read(
                    MySQLStoreSQL.dueBacklog, [.int(Int64(max(0, cap))), .int(Int64(max(0, cap)))],
                    consistency: .primary
                ).first?["due"].int ?? 0)
        }
    }

    public func runNow(taskID: Int64, requester: String) throws(StoreError) -> Bool {
        try mapped {
            // NOW(6) is the statement's time: the fire and the request name the same instant.
            try database.execute(
                """
                UPDATE cron SET status = 'active', next_run = NOW(6), fire_at = NOW(6), attempt = 0, error = NULL, \
                requested_by = ?, requested_fire = NOW(6) WHERE id = ? AND task_id IS NULL AND status <> 'invalid'
                """,
                [.string(String(String.UnicodeScalarView(requester.unicodeScalars.prefix(191)))), .int(taskID)]
            ).affectedRows == 1
        }
    }

    public func requestKill(taskID: Int64) throws(StoreError) -> Int {
        try mapped {
            try database.execute(
                "UPDATE cron_run SET kill_requested_at = NOW(6) WHERE cron_id = ? AND status = 'running' AND kill_requested_at IS NULL",
                [.int(taskID)]
            ).affectedRows
        }
    }

    public func delete(taskID: Int64) throws(StoreError) -> Bool {
        try mapped { try database.execute("DELETE FROM cron WHERE id = ?", [.int(taskID)]).affectedRows == 1 }
    }

    public func unscheduledRows(limit: Int) throws(StoreError) -> [TaskRow] {
        try mapped {
            try database.query(
                MySQLStoreSQL.unscheduledRows, [.int(Int64(max(0, limit)))], consistency: .primary
            ).map(TaskRow.init(mysql:))
        }
    }

    public func scheduleFirstFire(taskID: Int64, plan: FirePlanner.Plan) throws(StoreError) -> Bool {
        try mapped {
            try database.execute(
                "UPDATE cron SET next_run = ?, fire_at = ?, attempt = 0, status = ?, error = ? WHERE id = ? AND task_id IS NULL AND next_run IS NULL AND status = 'active'",
                [
                    .init(plan.nextRun), .init(plan.fireAt), .string(plan.status.rawValue),
                    .init(plan.error.map(StoredText.error)), .int(taskID),
                ]
            ).affectedRows == 1
        }
    }

    public func markInvalid(taskID: Int64, error: String) throws(StoreError) -> Bool {
        try mapped {
            try database.execute(
                "UPDATE cron SET status = 'invalid', error = ? WHERE id = ? AND task_id IS NULL AND status = 'active'",
                [.string(StoredText.error(error)), .int(taskID)]
            ).affectedRows == 1
        }
    }
}

extension MySQLStore: RunRetention {
    public func pruneRuns(_ policy: RetentionPolicy, limit: Int) throws(StoreError) -> Int {
        guard limit > 0 else { return 0 }
        return try mapped {
            var deleted = 0
            if let age = policy.maxAge {
                // A window of `limit` runs by primary key (ids grow with time), resuming where the
                // last call stopped: each call reads `limit` rows, however few of them may go.
                let from = ageCursor.withLock { $0 }
                let window = try database.query(
                    """
                    SELECT id, started_at < NOW(6) - INTERVAL ? MICROSECOND AS old, \
                    (\(MySQLStoreSQL.prunableByAge) AND \(MySQLStoreSQL.fireSettled)) AS prunable \
                    FROM cron_run WHERE id > ? ORDER BY id LIMIT ?
                    """,
                    [.int(age.microseconds), .int(age.microseconds), .int(from), .int(Int64(limit))],
                    consistency: .primary)
                let prunable = window.filter { $0["prunable"].int == 1 }.compactMap { $0["id"].int.map(Int64.init) }
                // Past the old runs (or at the end): start again from the oldest, where runs that
                // were running or waiting for a retry may since have ended.
                let reachedYoungRuns = window.count < limit || window.contains { $0["old"].int != 1 }
                ageCursor.withLock { $0 = reachedYoungRuns ? 0 : (window.last?["id"].int.map(Int64.init) ?? 0) }
                for chunk in prunable.chunkedInPowersOfTwo(upTo: 512) {
                    let ids = InList.padded(Array(chunk))
                    // Checked again: a run may have been taken for a retry since it was read, or
                    // its task put back on its fire by an edit.
                    deleted += try database.execute(
                        "DELETE FROM cron_run WHERE id IN \(InList.placeholders(ids.count)) AND \(MySQLStoreSQL.prunableByAge) AND \(MySQLStoreSQL.taskNotOnFire)",
                        ids.map { .int($0) } + [.int(age.microseconds)]
                    ).affectedRows
                }
            }
            guard let keep = policy.keepPerTask, deleted < limit else { return deleted }
            // A few tasks per call, in id order, resuming where the last call stopped.
            let from = pruneCursor.withLock { $0 }
            let tasks = try database.query(
                "SELECT id FROM cron WHERE id > ? ORDER BY id LIMIT 50", [.int(from)], consistency: .primary
            ).compactMap { $0["id"].int.map(Int64.init) }
            pruneCursor.withLock { $0 = tasks.count < 50 ? 0 : (tasks.last ?? 0) }
            for task in tasks where deleted < limit {
                // The newest run beyond the kept ones: it and everything older goes.
                guard
                    let boundary = try database.query(
                        "SELECT scheduled_for, attempt FROM cron_run WHERE cron_id = ? ORDER BY scheduled_for DESC, attempt DESC LIMIT 1 OFFSET ?",
                        [.int(task), .int(Int64(keep))], consistency: .primary
                    ).first, let at = boundary["scheduled_for"].date
                else { continue }
                // Read first: MySQL's DELETE cannot read its own table, as the settled-fire rule does.
                let ids = try database.query(
                    """
                    SELECT id FROM cron_run WHERE cron_id = ? AND (scheduled_for < ? OR (scheduled_for = ? AND attempt <= ?)) \
                    AND status <> 'running' AND retry_at IS NULL AND \(MySQLStoreSQL.fireSettled) ORDER BY scheduled_for LIMIT ?
                    """,
                    [.int(task), .date(at), .date(at), boundary["attempt"], .int(Int64(limit - deleted))],
                    consistency: .primary
                ).compactMap { $0["id"].int.map(Int64.init) }
                for chunk in ids.chunkedInPowersOfTwo(upTo: 512) {
                    let padded = InList.padded(Array(chunk))
                    deleted += try database.execute(
                        "DELETE FROM cron_run WHERE id IN \(InList.placeholders(padded.count)) AND status <> 'running' AND retry_at IS NULL AND \(MySQLStoreSQL.taskNotOnFire)",
                        padded.map { .int($0) }
                    ).affectedRows
                }
            }
            return deleted
        }
    }

    public func pruneExecutors(_ policy: RetentionPolicy, limit: Int) throws(StoreError) -> Int {
        try mapped {
            try database.execute(
                """
                DELETE FROM cron_executor WHERE state IN ('stopped', 'dead') AND lease_expires_at < NOW(6) - INTERVAL ? MICROSECOND \
                AND NOT EXISTS (SELECT 1 FROM cron WHERE task_id IS NOT NULL AND claimed_by = cron_executor.id) \
                AND NOT EXISTS (SELECT 1 FROM cron_run WHERE status = 'running' AND executor = cron_executor.id) LIMIT ?
                """,
                [.int(policy.executorAge.microseconds), .int(Int64(max(0, limit)))]
            ).affectedRows
        }
    }
}

extension MySQLStoreSQL {
    /// A task's latest runs (parameters: task id, limit): newest fire first, through the
    /// cron_run_fire index, with no sort of the task's whole history.
    public static let runsOfTask =
        "SELECT \(RunInfo.columns) FROM cron_run WHERE cron_id = ? ORDER BY scheduled_for DESC, attempt DESC LIMIT ?"

    /// Due, unclaimed rows, counted up to a cap each way (parameters: the cap twice): rows whose
    /// `next_run` passed, along the claim index, and one-shots inserted without one (due at once).
    public static let dueBacklog = """
        SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM cron WHERE task_id IS NULL AND status = 'active' \
        AND next_run <= NOW(6) LIMIT ?) AS scheduled) + (SELECT COUNT(*) FROM (SELECT 1 FROM cron \
        WHERE task_id IS NULL AND status = 'active' AND next_run IS NULL AND (schedule IS NULL OR schedule = '') \
        LIMIT ?) AS one_shots) AS due
        """

    /// Rows waiting for their first fire (parameter: limit). The index leads with the status, so
    /// finished one-shots and invalid rows are never read again.
    public static let unscheduledRows =
        "SELECT \(TaskRow.columns) FROM cron FORCE INDEX (cron_unscheduled) WHERE status = 'active' AND next_run IS NULL AND task_id IS NULL AND schedule > '' LIMIT ?"

    /// Marks a task failing (parameter: its id). Bookkeeping, like the `running` count and
    /// `last_success_at`: `updated_at` stays, so that a claim's `changedSinceClaim` and the
    /// finish's fast path see only real changes to the row.
    static let markFailing = "UPDATE cron SET failing = 1, updated_at = updated_at WHERE id = ?"

    /// The run's fire is settled: no attempt of it runs or waits for a retry, and its task (active
    /// or paused) is not on it; or its task is gone. Only a settled fire's runs are deleted: its
    /// lost attempts count toward `max_attempts` (a poison fire's crashes), and its run keys keep
    /// an at_most_once fire from starting twice. Read through `cron_run_fire` and the primary key.
    static let fireSettled = """
        (NOT EXISTS (SELECT 1 FROM cron c WHERE c.id = cron_run.cron_id) \
        OR (NOT EXISTS (SELECT 1 FROM cron_run o FORCE INDEX (cron_run_fire) WHERE o.cron_id = cron_run.cron_id \
        AND o.scheduled_for = cron_run.scheduled_for AND (o.status = 'running' OR o.retry_at IS NOT NULL)) \
        AND \(taskNotOnFire)))
        """

    /// The run's task (active or paused) is not on its fire (`fire_at`, or `next_run` when an
    /// edit left `fire_at` NULL, as the claim reads it). Rechecked by the DELETE: an edit may
    /// have put the task back on the fire since the runs were chosen.
    static let taskNotOnFire = """
        NOT EXISTS (SELECT 1 FROM cron c WHERE c.id = cron_run.cron_id \
        AND COALESCE(c.fire_at, c.next_run) = cron_run.scheduled_for AND c.status IN ('active', 'paused'))
        """

    /// A run the age rule deletes (one parameter: the age in microseconds): old, final, and no
    /// retry pending, unless its task is gone (a retry nobody can take).
    static let prunableByAge = """
        started_at < NOW(6) - INTERVAL ? MICROSECOND AND status <> 'running' \
        AND (retry_at IS NULL OR NOT EXISTS (SELECT 1 FROM cron WHERE cron.id = cron_run.cron_id))
        """
}
