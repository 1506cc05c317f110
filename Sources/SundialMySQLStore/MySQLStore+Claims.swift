import Foundation
import SundialCore
import SundialMySQL

extension MySQLStore: ClaimStore {
    public func now() throws(StoreError) -> Date {
        try mapped {
            guard let now = try database.query("SELECT NOW(6) AS now", consistency: .primary).first?["now"].date else {
                throw StoreError(.unavailable, "the database returned no time")
            }
            return now
        }
    }

    /// The design card's claim, made safe against rows locked elsewhere: in one transaction,
    /// the due rows' ids in `next_run` order, skipping locked ones (`FOR UPDATE SKIP LOCKED`),
    /// then one `UPDATE cron SET task_id = <token> … WHERE id IN (…) AND task_id IS NULL`, then
    /// the rows carrying the token. Index only: the cost grows with the batch, not the table.
    public func claim(_ request: ClaimRequest) throws(StoreError) -> ClaimedBatch {
        guard request.limit > 0, !request.actions.isEmpty else { return ClaimedBatch(token: request.token, rows: []) }
        let (rows, now, unscheduled) = try mapped {
            try database.transaction { c -> ([TaskRow], Date?, Int) in
                let filters = request.actions.map { MySQLValue.string($0) } + request.tags.map { .string($0) }
                // Rows inserted with neither schedule nor next_run run once, now: an index lookup.
                var candidates: [Int64] = []
                if request.includeUnscheduled {
                    candidates = try c.query(
                        MySQLStoreSQL.claimOneShots(actions: request.actions.count, tags: request.tags.count),
                        filters + [.int(Int64(request.limit))]
                    ).compactMap { $0["id"].int.map(Int64.init) }
                }
                let oneShots = candidates.count
                if candidates.count < request.limit {
                    candidates += try c.query(
                        MySQLStoreSQL.claimCandidates(actions: request.actions.count, tags: request.tags.count),
                        [.int(request.lookahead.microseconds)] + filters
                            + [.int(Int64(request.limit - candidates.count))]
                    ).compactMap { $0["id"].int.map(Int64.init) }
                }
                guard !candidates.isEmpty else { return ([], nil, 0) }
                let ids = InList.padded(candidates)
                // A one-shot inserted without next_run gets its fire time from this claim, on
                // record: a claim after a lost one finds the same fire (and its run key) again.
                // The fire and attempt taken go on record with the claim, for recovery.
                // (Assignments apply left to right: fire_at reads next_run before it is set.)
                try c.execute(
                    """
                    UPDATE cron SET task_id = ?, claimed_by = ?, claimed_at = NOW(6), \
                    fire_at = IF(next_run IS NULL, NOW(6), fire_at), next_run = IFNULL(next_run, NOW(6)), \
                    claimed_token = ?, claimed_fire = IF(next_run IS NULL, NOW(6), IFNULL(fire_at, next_run)), \
                    claimed_attempt = attempt, claimed_next_run = IFNULL(next_run, NOW(6)) \
                    WHERE id IN \(InList.placeholders(ids.count)) AND task_id IS NULL
                    """,
                    [.init(request.token), .string(request.executor), .init(request.token)] + ids.map { .int($0) })
                let found = try c.query(
                    "SELECT \(TaskRow.claimColumns), NOW(6) AS db_now FROM cron WHERE task_id = ? ORDER BY next_run, id",
                    [.init(request.token)])
                return (found.map(TaskRow.init(mysql:)), found.first?["db_now"].date, oneShots)
            }
        }
        return ClaimedBatch(token: request.token, rows: rows, now: now, unscheduled: unscheduled)
    }

    public func release(token: ClaimToken, taskIDs: [Int64]?) throws(StoreError) -> Int {
        try mapped {
            guard let taskIDs else {
                return try database.execute(
                    "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE task_id = ?",
                    [.init(token)]
                ).affectedRows
            }
            guard !taskIDs.isEmpty else { return 0 }
            let ids = InList.padded(taskIDs)
            return try database.execute(
                "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE task_id = ? AND id IN \(InList.placeholders(ids.count))",
                [.init(token)] + ids.map { .int($0) }
            ).affectedRows
        }
    }

    public func stillClaimed(token: ClaimToken, taskIDs: [Int64]) throws(StoreError) -> Set<Int64> {
        guard !taskIDs.isEmpty else { return [] }
        return try mapped {
            let ids = InList.padded(taskIDs)
            return Set(
                try database.query(
                    "SELECT id FROM cron WHERE task_id = ? AND status = 'active' AND id IN \(InList.placeholders(ids.count))",
                    [.init(token)] + ids.map { .int($0) }, consistency: .primary
                ).compactMap { $0["id"].int.map(Int64.init) })
        }
    }

    public func markInvalid(_ claim: Claim, error: String) throws(StoreError) {
        _ = try mapped {
            try database.execute(
                "UPDATE cron SET status = 'invalid', error = ?, task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
                [.string(StoredText.error(error)), .int(claim.taskID), .init(claim.token)])
        }
    }

    public func abandonResult(_ finished: FinishedRun, reason: String) throws(StoreError) {
        let run = finished.run
        let error = MySQLValue.string(StoredText.error(reason))
        try mapped {
            try database.transaction { c in
                // Locks in the order recovery takes them: runs first, then rows.
                let applies = try !resultsThatApply([finished], on: c).isEmpty
                let ended = try c.execute(
                    """
                    UPDATE cron_run SET status = ?, finished_at = COALESCE(?, NOW(6)), error = ?, output = NULL \
                    WHERE cron_id = ? AND scheduled_for = ? AND attempt = ? AND task_id = ? AND status = 'running'
                    """,
                    [
                        .string(run.status.rawValue), .init(run.finishedAt), error, .int(run.taskID),
                        .date(run.scheduledFor), .int(Int64(run.attempt)), .init(run.token),
                    ]
                ).affectedRows
                let countedDown = ended == 1 && run.concurrent
                // Its fire moves on as the attempt's plan says: a resume must not run it again.
                if let finish = finished.row,
                    let row = try c.query(
                        "SELECT \(TaskRow.columns) FROM cron WHERE id = ? AND task_id = ? FOR UPDATE",
                        [.int(run.taskID), .init(run.token)]
                    ).first.map(TaskRow.init(mysql:))
                {
                    let change = FinishRule.change(current: row, finish: finish)
                    try c.execute(
                        """
                        UPDATE cron SET next_run = ?, fire_at = ?, attempt = ?, last_duration = ?, \
                        last_success_at = COALESCE(?, last_success_at) WHERE id = ? AND task_id = ?
                        """,
                        [
                            .init(change.nextRun), .init(change.fireAt), .int(Int64(change.attempt)),
                            .init(change.lastDuration), .init(finish.succeededAt), .int(run.taskID), .init(run.token),
                        ])
                }
                // Marked invalid, counted down, and freed if this claim holds it, in one statement
                // (the claim columns last: their conditions read `task_id` before it is cleared).
                try c.execute(
                    """
                    UPDATE cron SET status = 'invalid', error = ?, running = IF(?, GREATEST(running, 1) - 1, running), \
                    claimed_by = IF(task_id <=> ?, NULL, claimed_by), claimed_at = IF(task_id <=> ?, NULL, claimed_at), \
                    task_id = IF(task_id <=> ?, NULL, task_id) WHERE id = ?
                    """,
                    [
                        error, .int(countedDown ? 1 : 0), .init(run.token), .init(run.token), .init(run.token),
                        .int(run.taskID),
                    ])
                if applies { try settleAlerts(of: finished, on: c) }
            }
        }
    }

    public func startConcurrentRun(
        _ run: RunRecord, moveOn: RowFinish?, retrying: RunKey?
    ) throws(StoreError) -> ConcurrentStart {
        try mapped {
            do {
                return try database.transaction { c -> ConcurrentStart in
                    if let retrying {
                        // Take the retry: only one executor clears it.
                        let taken = try c.execute(
                            "UPDATE cron_run SET retry_at = NULL WHERE cron_id = ? AND scheduled_for = ? AND attempt = ? AND retry_at IS NOT NULL",
                            [.int(retrying.task), .date(retrying.scheduled), .int(Int64(retrying.attempt))]
                        ).affectedRows
                        guard taken == 1 else { return try alreadyStarted(run, on: c) ? .alreadyStarted : .claimLost }
                    }
                    let counted: Int
                    if let moveOn {
                        counted = try moveOnAtStart(run, moveOn, on: c)
                    } else {
                        // A claim on a task that runs one at a time is a run too (its fire runs
                        // under the claim, uncounted): a retry waits for it.
                        counted = try c.execute(
                            """
                            UPDATE cron SET running = running + 1, updated_at = updated_at WHERE id = ? AND status = 'active' \
                            AND running < max_concurrency AND (task_id IS NULL OR max_concurrency > 1)
                            """,
                            [.int(run.taskID)]
                        ).affectedRows
                    }
                    guard counted == 1 else {
                        // Already applied by a call whose answer was lost? Then the run is on record.
                        if try alreadyStarted(run, on: c) { return .alreadyStarted }
                        // Still ours and active, but a retry took the last place: wait for one.
                        let active =
                            try !c.query(
                                moveOn == nil
                                    ? "SELECT 1 FROM cron WHERE id = ? AND status = 'active'"
                                    : "SELECT 1 FROM cron WHERE id = ? AND status = 'active' AND task_id = ?",
                                moveOn == nil ? [.int(run.taskID)] : [.int(run.taskID), .init(run.token)]
                            ).isEmpty
                        // No room: roll the taken retry back, it waits for a place.
                        throw active ? ConcurrentStartRefused.noRoom : ConcurrentStartRefused.taskGone
                    }
                    var started = run
                    started.concurrent = true
                    try upsertRuns([started][...], on: c)
                    return .started
                }
            } catch ConcurrentStartRefused.noRoom {
                return .noRoom
            } catch ConcurrentStartRefused.taskGone {
                return .claimLost
            }
        }
    }

    /// Counts a concurrent start in its claimed row and moves the row on, fenced by the claim: the
    /// plan as it is when the row is untouched since the claim (its `updated_at`), or as
    /// `FinishRule` decides from the row as it is now when someone edited it meanwhile. 1 when done.
    private func moveOnAtStart(_ run: RunRecord, _ moveOn: RowFinish, on c: MySQLConnection) throws -> Int {
        func apply(_ change: FinishRule.Change, unlessEdited version: RowVersion?) throws -> Int {
            // Due retries of earlier fires go first: a new fire leaves them their places (counted
            // through the retry index: few runs wait for a retry).
            try c.execute(
                """
                UPDATE cron SET running = running + 1, next_run = ?, fire_at = ?, attempt = ?, status = ?, error = ?, \
                task_id = NULL, claimed_by = NULL, claimed_at = NULL \
                WHERE id = ? AND task_id = ? AND status = 'active' AND running + (SELECT COUNT(*) FROM cron_run \
                FORCE INDEX (cron_run_retry) WHERE retry_at IS NOT NULL AND retry_at <= NOW(6) AND cron_id = ?) < max_concurrency\
                \(version == nil ? "" : " AND updated_at = ?")
                """,
                [
                    .init(change.nextRun), .init(change.fireAt), .int(Int64(change.attempt)),
                    .string(change.status.rawValue), .init(change.error.map(StoredText.error)),
                    .int(run.taskID), .init(run.token), .int(run.taskID),
                ] + (version.map { [.date($0.date)] } ?? [])
            ).affectedRows
        }
        if let version = moveOn.claimed.version,
            try apply(FinishRule.unedited(moveOn, lastDuration: nil), unlessEdited: version) == 1
        {
            return 1
        }
        // Edited since the claim: decided from the row.
        guard
            let row = try c.query(
                "SELECT \(TaskRow.columns) FROM cron WHERE id = ? AND task_id = ? FOR UPDATE",
                [.int(run.taskID), .init(run.token)]
            ).first.map(TaskRow.init(mysql:))
        else { return 0 }
        return try apply(FinishRule.change(current: row, finish: moveOn), unlessEdited: nil)
    }

    /// Rolls a concurrent start back.
    private enum ConcurrentStartRefused: Error { case noRoom, taskGone }

    private func alreadyStarted(_ run: RunRecord, on c: MySQLConnection) throws -> Bool {
        try !c.query(
            "SELECT 1 FROM cron_run WHERE cron_id = ? AND scheduled_for = ? AND attempt = ? AND task_id = ?",
            [.int(run.taskID), .date(run.scheduledFor), .int(Int64(run.attempt)), .init(run.token)]
        ).isEmpty
    }

    public func dueRetries(actions: [String], tags: [String], lookahead: Duration, limit: Int) throws(StoreError)
        -> [DueRetry]
    {
        guard limit > 0, !actions.isEmpty else { return [] }
        return try mapped {
            try database.query(
                """
                SELECT r.cron_id AS run_task, r.scheduled_for AS run_fire, r.attempt AS run_attempt, r.retry_at, \
                r.requested_by AS run_requested_by, \
                \(TaskRow.columns.split(separator: ",").map { "c." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")) \
                FROM cron_run r JOIN cron c ON c.id = r.cron_id \
                WHERE r.retry_at IS NOT NULL AND r.retry_at < NOW(6) + INTERVAL ? MICROSECOND AND c.status = 'active' \
                AND c.running < c.max_concurrency AND (c.task_id IS NULL OR c.max_concurrency > 1) \
                AND \(MySQLStoreSQL.actionFilter(actions.count, column: "c.action")) AND \(MySQLStoreSQL.tagFilter(tags.count, column: "c.tags")) \
                ORDER BY r.retry_at LIMIT ?
                """,
                [.int(lookahead.microseconds)] + actions.map { .string($0) } + tags.map { .string($0) } + [
                    .int(Int64(limit))
                ], consistency: .primary
            ).compactMap { row in
                guard let task = row["run_task"].int, let fire = row["run_fire"].date,
                    let attempt = row["run_attempt"].int,
                    let at = row["retry_at"].date
                else { return nil }
                return DueRetry(
                    row: TaskRow(mysql: row), run: RunKey(task: Int64(task), scheduled: fire, attempt: attempt),
                    retryAt: at, requestedBy: row["run_requested_by"].string)
            }
        }
    }

    public func killRequests(executor: String) throws(StoreError) -> [RunKey] {
        try mapped {
            try database.query(
                "SELECT cron_id, scheduled_for, attempt FROM cron_run WHERE status = 'running' AND executor = ? AND kill_requested_at IS NOT NULL",
                [.string(executor)], consistency: .primary
            ).compactMap { row in
                guard let id = row["cron_id"].int, let at = row["scheduled_for"].date, let attempt = row["attempt"].int
                else { return nil }
                return RunKey(task: Int64(id), scheduled: at, attempt: attempt)
            }
        }
    }
}

/// SQL the store sends, exposed for EXPLAIN in tests and benchmarks.
public enum MySQLStoreSQL {
    /// The claim's due rows: parameters are look-ahead in microseconds, one per action, one per
    /// tag, limit. Rows locked by another writer are skipped, not waited for.
    ///
    /// Read through `cron_claim` (task_id, status, next_run) with its first two columns fixed, in
    /// `next_run` order, stopping at the LIMIT. (For a SELECT, MariaDB keeps the index order with
    /// `ORDER BY next_run`; naming all three columns, as an UPDATE needs, makes it sort every due
    /// row instead. `theClaimUsesTheClaimIndex` checks the plan.)
    public static func claimCandidates(actions: Int, tags: Int) -> String {
        """
        SELECT id FROM cron WHERE task_id IS NULL AND status = 'active' AND next_run < NOW(6) + INTERVAL ? MICROSECOND \
        AND running < max_concurrency AND \(actionFilter(actions)) AND \(tagFilter(tags)) \
        ORDER BY next_run LIMIT ? FOR UPDATE SKIP LOCKED
        """
    }

    /// Rows with neither schedule nor `next_run` (run once, now): parameters are one per action,
    /// one per tag, limit.
    public static func claimOneShots(actions: Int, tags: Int) -> String {
        """
        SELECT id FROM cron WHERE task_id IS NULL AND status = 'active' AND next_run IS NULL \
        AND (schedule IS NULL OR schedule = '') AND running < max_concurrency \
        AND \(actionFilter(actions)) AND \(tagFilter(tags)) LIMIT ? FOR UPDATE SKIP LOCKED
        """
    }

    /// The row's action is one of `count` names, byte for byte: the table's collation would match
    /// `NOOP` or `noop ` to `noop`, which no handler runs (a row claimed and given back forever).
    static func actionFilter(_ count: Int, column: String = "action") -> String {
        "CAST(\(column) AS BINARY) IN \(InList.placeholders(count))"
    }

    /// No tags, or one of `count` tags, byte for byte (as the executor's own tags are compared).
    static func tagFilter(_ count: Int, column: String = "tags") -> String {
        "(\(column) IS NULL OR \(column) = ''"
            + String(repeating: " OR FIND_IN_SET(?, CAST(\(column) AS BINARY))", count: count) + ")"
    }
}
