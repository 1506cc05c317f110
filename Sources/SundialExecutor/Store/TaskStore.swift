import Foundation
import Logging
import SundialMySQL

/// The executor's data mapper over `cron`, `cron_run` and `cron_executor`.
///
/// Every time comes from the database's clock (`NOW(6)`), and every write that follows a claim is
/// fenced by the claim token (`WHERE id = ? AND task_id = ?`), so a late executor can never
/// overwrite a row another executor has reclaimed, and a deleted row is never written back.
/// All calls block: they run on the executor's own threads.
public struct TaskStore: Sendable {
    public let database: Database
    public let logger: Logger

    public init(database: Database, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    // MARK: Claiming

    /// What a claim found: the rows now carrying `token`, and a reading of the database's clock.
    public struct Claim: Sendable {
        public var token: Int64
        public var rows: [TaskRow]
        /// `NOW(6)`, read after the rows.
        public var databaseNow: Date
        public var clockReading: ClockReading
    }

    /// `NOW(6)` and when it was asked for and answered, on the local monotonic and wall clocks.
    public struct ClockReading: Sendable {
        public var databaseNow: Date
        public var sent: ContinuousClock.Instant
        public var received: ContinuousClock.Instant
        public var wallSent: Date
        public var wallReceived: Date
    }

    /// Reads the database's clock from the primary.
    public func readClock() throws -> ClockReading {
        let wallSent = Date()
        let sent = ContinuousClock.now
        let now = try database.query("SELECT NOW(6) AS now", consistency: .primary).first?["now"].date
        let received = ContinuousClock.now
        guard let now else {
            throw MySQLError(
                kind: .retryLater, code: 0, node: "primary", statement: "SELECT NOW(6)", message: "no time returned")
        }
        return ClockReading(databaseNow: now, sent: sent, received: received, wallSent: wallSent, wallReceived: Date())
    }

    /// The design card's claim: one UPDATE that marks up to `limit` due rows with a fresh token,
    /// then a read of the rows carrying it, from the primary.
    ///
    /// "Due" includes a look-ahead so work can start on the exact second, and rows with neither a
    /// schedule nor a `next_run` (run once, now) are due at once. Rows that need tags are
    /// claimed only by an executor that has one of them. Rows are taken in `next_run` order
    /// through the `cron_claim` index: the cost grows with the batch, not the table.
    public func claim(executor: String, tags: [String], limit: Int, lookahead: Duration) throws -> Claim? {
        guard limit > 0 else { return nil }
        let token = Int64.random(in: 1...Int64.max)
        let tagValues = tags.map { MySQLValue.string($0) }
        // Rows inserted with neither schedule nor next_run run once, now: an index lookup finds them.
        var claimed = try database.execute(
            TaskStoreSQL.claimUnscheduled(tagCount: tags.count),
            [.int(token), .string(executor)] + tagValues + [.int(Int64(limit))]
        ).affectedRows
        if claimed < limit {
            claimed += try database.execute(
                TaskStoreSQL.claim(tagCount: tags.count),
                [.int(token), .string(executor), .int(lookahead.microseconds)] + tagValues + [
                    .int(Int64(limit - claimed))
                ]
            ).affectedRows
        }
        guard claimed > 0 else { return nil }
        let rows = try database.query(
            "SELECT \(TaskRow.columns) FROM cron WHERE task_id = ?", [.int(token)], consistency: .primary
        ).map(TaskRow.init(row:))
        // Read apart from the rows: a reading's round trip bounds how precisely fires start.
        let reading = try readClock()
        return Claim(token: token, rows: rows, databaseNow: reading.databaseNow, clockReading: reading)
    }

}

/// SQL the store sends, exposed for EXPLAIN in tests and benchmarks.
public enum TaskStoreSQL {
    /// The claim: parameters are token, executor, look-ahead in microseconds, one per tag, limit.
    ///
    /// `ORDER BY task_id, status, next_run` says the same as `ORDER BY next_run` here (the first two
    /// are fixed by the WHERE) but names the whole index: with `ORDER BY next_run` alone MariaDB
    /// reads and sorts every due row before the LIMIT (200,000 rows read for a batch of 100,
    /// measured); with the full index order it reads the batch and stops.
    public static func claim(tagCount: Int) -> String {
        """
        UPDATE cron SET task_id = ?, claimed_by = ?, claimed_at = NOW(6) \
        WHERE task_id IS NULL AND status = 'active' AND next_run < NOW(6) + INTERVAL ? MICROSECOND \
        AND running < max_concurrency AND \(tagFilter(tagCount)) ORDER BY task_id, status, next_run LIMIT ?
        """
    }

    /// Rows with neither schedule nor next_run: parameters are token, executor, one per tag, limit.
    public static func claimUnscheduled(tagCount: Int) -> String {
        """
        UPDATE cron SET task_id = ?, claimed_by = ?, claimed_at = NOW(6) \
        WHERE task_id IS NULL AND status = 'active' AND next_run IS NULL AND (schedule IS NULL OR schedule = '') \
        AND \(tagFilter(tagCount)) LIMIT ?
        """
    }

    private static func tagFilter(_ count: Int) -> String {
        "(tags IS NULL OR tags = ''" + String(repeating: " OR FIND_IN_SET(?, tags)", count: count) + ")"
    }
}

extension TaskStore {

    /// Gives claimed rows back untouched (no attempt counted), fenced by their token.
    public func release(_ rows: [(id: Int64, token: Int64)]) throws {
        guard !rows.isEmpty else { return }
        try database.transaction { c in
            for row in rows {
                try c.execute(
                    "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
                    [.int(row.id), .int(row.token)])
            }
        }
    }

    /// Marks a claimed row `invalid` with a readable error and frees it.
    public func markInvalid(id: Int64, token: Int64, error: String) throws {
        try database.execute(
            "UPDATE cron SET status = 'invalid', error = ?, task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
            [.string(error), .int(id), .int(token)])
    }

    /// Starts a concurrent run of a task that allows several (max_concurrency > 1): counts it in
    /// `running`, moves the row on to its next fire and frees it for the next claim.
    public func detach(id: Int64, token: Int64, next: FirePlanner.Plan) throws -> Bool {
        try database.execute(
            """
            UPDATE cron SET running = running + 1, next_run = ?, fire_at = ?, attempt = ?, status = IF(status = 'active', ?, status), \
            task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?
            """,
            [
                .init(next.nextRun), .init(next.fireAt), .int(Int64(next.attempt)), .string(next.status.rawValue),
                .int(id), .int(token),
            ]
        ).affectedRows == 1
    }

    // MARK: Rows without next_run

    /// Gives rows with no `next_run` their first fire (or `invalid` with a reason). Returns how many.
    /// Each write re-checks that the row is still free, active and unscheduled: another executor
    /// may have scheduled, run and finished it since the SELECT.
    public func scheduleNewRows(limit: Int = 500, definitions: TaskDefinitions) throws -> Int {
        let rows = try database.query(
            "SELECT \(TaskRow.columns), NOW(6) AS db_now FROM cron FORCE INDEX (cron_unscheduled) WHERE next_run IS NULL AND schedule > '' AND task_id IS NULL AND status = 'active' LIMIT ?",
            [.int(Int64(limit))], consistency: .primary)
        var done = 0
        for row in rows {
            let task = TaskRow(row: row)
            let now = row["db_now"].date ?? Date()
            switch definitions.definition(for: task) {
            case .failure(let error):
                try database.execute(
                    "UPDATE cron SET status = 'invalid', error = ? WHERE id = ? AND task_id IS NULL AND next_run IS NULL AND status = 'active'",
                    [.string(error.message), .int(task.id)])
            case .success(let definition):
                let plan = FirePlanner(row: task, schedule: definition.schedule).firstFire(now: now)
                try database.execute(
                    "UPDATE cron SET next_run = ?, fire_at = ?, attempt = 0, status = ?, error = ? WHERE id = ? AND task_id IS NULL AND next_run IS NULL AND status = 'active'",
                    [
                        .init(plan.nextRun), .init(plan.fireAt), .string(plan.status.rawValue), .init(plan.error),
                        .int(task.id),
                    ])
            }
            done += 1
        }
        return done
    }

    // MARK: Executors

    public func register(executor: ExecutorIdentity) throws {
        try database.execute(
            """
            INSERT INTO cron_executor (id, host, pid, threads, busy, tags, started_at, heartbeat, state) \
            VALUES (?, ?, ?, ?, 0, ?, NOW(6), NOW(6), 'running') \
            ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), threads = VALUES(threads), busy = 0, \
            tags = VALUES(tags), started_at = NOW(6), heartbeat = NOW(6), state = 'running'
            """,
            [
                .string(executor.id), .string(executor.host), .int(Int64(executor.pid)), .int(Int64(executor.threads)),
                executor.tags.isEmpty ? .null : .string(executor.tags.joined(separator: ",")),
            ])
    }

    /// Renews the lease (also while stopping, when running tasks still hold it). False when the
    /// row was marked `dead`: another executor declared this one dead and took its work.
    public func heartbeat(executor: String, busy: Int) throws -> (alive: Bool, clock: ClockReading) {
        let result = try database.execute(
            "UPDATE cron_executor SET heartbeat = NOW(6), busy = ? WHERE id = ? AND state IN ('running', 'stopping')",
            [.int(Int64(busy)), .string(executor)])
        return (result.affectedRows == 1, try readClock())
    }

    public func markExecutor(_ id: String, state: String) throws {
        try database.execute(
            "UPDATE cron_executor SET state = ?, busy = 0 WHERE id = ?", [.string(state), .string(id)])
    }

    /// Runs of this executor that someone asked to kill, as (task, scheduled time, attempt).
    public func killRequests(executor: String) throws -> [RunKey] {
        try database.query(
            "SELECT cron_id, scheduled_for, attempt FROM cron_run WHERE status = 'running' AND executor = ? AND kill_requested_at IS NOT NULL",
            [.string(executor)], consistency: .primary
        ).compactMap { row in
            guard let id = row["cron_id"].int, let at = row["scheduled_for"].date, let attempt = row["attempt"].int
            else {
                return nil
            }
            return RunKey(task: Int64(id), scheduled: at, attempt: attempt)
        }
    }

    // MARK: Recovery

    /// Finds executors whose heartbeat is older than `lease` (database time), declares each dead
    /// (exactly one live executor wins that), marks its running runs `lost` and frees its rows:
    /// `at_least_once` fires run again, `at_most_once` fires that had started move on.
    /// Returns the ids of the executors it recovered.
    public func recoverDeadExecutors(lease: Duration, definitions: TaskDefinitions) throws -> [String] {
        let candidates = try database.query(
            "SELECT id FROM cron_executor WHERE state IN ('running', 'stopping') AND heartbeat < NOW(6) - INTERVAL ? MICROSECOND",
            [.int(lease.microseconds)], consistency: .primary
        ).compactMap { $0["id"].string }
        var recovered: [String] = []
        for dead in candidates {
            let won = try database.transaction { c -> Bool in
                let taken = try c.execute(
                    "UPDATE cron_executor SET state = 'dead', busy = 0 WHERE id = ? AND state IN ('running', 'stopping') AND heartbeat < NOW(6) - INTERVAL ? MICROSECOND",
                    [.string(dead), .int(lease.microseconds)])
                guard taken.affectedRows == 1 else { return false }
                try reclaim(
                    from: dead, reason: "executor \(dead) stopped heartbeating", on: c, definitions: definitions)
                return true
            }
            if won {
                recovered.append(dead)
                logger.warning("recovered the work of a dead executor", metadata: ["executor": "\(dead)"])
            }
        }
        return recovered
    }

    /// Frees every row `executor` holds and ends its running runs as `lost`, in the caller's
    /// transaction. Also used by an executor that finds itself declared dead.
    func reclaim(from executor: String, reason: String, on c: MySQLConnection, definitions: TaskDefinitions) throws {
        let now = try c.query("SELECT NOW(6) AS now").first?["now"].date ?? Date()
        let runs = try c.query(
            "SELECT id, cron_id, scheduled_for, attempt, task_id FROM cron_run WHERE executor = ? AND status = 'running' FOR UPDATE",
            [.string(executor)])
        for run in runs {
            try c.execute(
                "UPDATE cron_run SET status = 'lost', finished_at = NOW(6), error = ? WHERE id = ? AND status = 'running'",
                [.string(reason), run["id"]])
        }
        let lostByTask = Dictionary(grouping: runs, by: { Int64($0["cron_id"].int ?? 0) })
        let held = try c.query(
            "SELECT \(TaskRow.columns) FROM cron WHERE claimed_by = ? AND task_id IS NOT NULL FOR UPDATE",
            [.string(executor)]
        ).map(TaskRow.init(row:))
        for row in held {
            let lost = (lostByTask[row.id] ?? []).first { Int64($0["task_id"].int ?? 0) == row.claimToken }
            guard let lost, let scheduled = lost["scheduled_for"].date else {
                // Claimed but never started: free it as it was.
                try c.execute(
                    "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
                    [.int(row.id), .int(row.claimToken ?? 0)])
                continue
            }
            let schedule = try? definitions.definition(for: row).get().schedule
            let plan = FirePlanner(row: row, schedule: schedule).afterInterruption(
                fireAt: scheduled, attempt: lost["attempt"].int ?? row.attempt, now: now, reason: reason)
            try c.execute(
                "UPDATE cron SET next_run = ?, fire_at = ?, attempt = ?, status = IF(status = 'active', ?, status), task_id = NULL, claimed_by = NULL, claimed_at = NULL, error = ? WHERE id = ? AND task_id = ?",
                [
                    .init(plan.nextRun), .init(plan.fireAt), .int(Int64(plan.attempt)), .string(plan.status.rawValue),
                    .init(plan.error), .int(row.id), .int(row.claimToken ?? 0),
                ])
        }
        // Concurrent runs (max_concurrency > 1) were counted in `running`.
        for (taskID, taskRuns) in lostByTask where !held.contains(where: { $0.id == taskID }) {
            try c.execute(
                "UPDATE cron SET running = GREATEST(running, ?) - ? WHERE id = ?",
                [.int(Int64(taskRuns.count)), .int(Int64(taskRuns.count)), .int(taskID)])
        }
    }
}

extension Duration {
    var microseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
    var timeInterval: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
