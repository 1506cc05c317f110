import Foundation
import SundialCore
import SundialMySQL

extension MySQLStore: ExecutorRegistry {
    public func register(_ executor: ExecutorRegistration, lease: Duration) throws(StoreError) -> LeaseRenewal {
        try mapped {
            try leases.execute(
                """
                INSERT INTO cron_executor (id, host, pid, threads, busy, tags, actions, started_at, heartbeat, lease_expires_at, state) \
                VALUES (?, ?, ?, ?, 0, ?, ?, NOW(6), NOW(6), NOW(6) + INTERVAL ? MICROSECOND, 'running') \
                ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), threads = VALUES(threads), busy = 0, \
                tags = VALUES(tags), actions = VALUES(actions), started_at = NOW(6), heartbeat = NOW(6), \
                lease_expires_at = VALUES(lease_expires_at), state = 'running'
                """,
                [
                    .string(executor.id), .string(executor.host), .int(Int64(executor.pid)),
                    .int(Int64(executor.threads)),
                    executor.tags.isEmpty ? .null : .string(executor.tags.joined(separator: ",")),
                    .string(executor.actions.joined(separator: ",")), .int(lease.microseconds),
                ])
            return try leaseAnswer(executor.id)
        }
    }

    public func renewLease(executor: String, lease: Duration, busy: Int) throws(StoreError) -> LeaseRenewal {
        try mapped {
            let renewed = try leases.execute(
                """
                UPDATE cron_executor SET heartbeat = NOW(6), lease_expires_at = NOW(6) + INTERVAL ? MICROSECOND, busy = ? \
                WHERE id = ? AND state IN ('running', 'stopping')
                """,
                [.int(lease.microseconds), .int(Int64(busy)), .string(executor)]
            ).affectedRows
            return renewed == 1 ? try leaseAnswer(executor) : .lost
        }
    }

    private func leaseAnswer(_ executor: String) throws -> LeaseRenewal {
        guard
            let row = try leases.query(
                "SELECT lease_expires_at, NOW(6) AS now FROM cron_executor WHERE id = ?", [.string(executor)],
                consistency: .primary
            ).first, let expires = row["lease_expires_at"].date, let now = row["now"].date
        else { return .lost }
        return .renewed(expiresAt: expires, now: now)
    }

    public func setState(executor: String, _ state: ExecutorState) throws(StoreError) {
        _ = try mapped {
            switch state {
            case .stopped, .dead:
                // Ends the lease: whatever it still holds is recovered by others at once.
                try leases.execute(
                    "UPDATE cron_executor SET state = ?, busy = 0, lease_expires_at = LEAST(lease_expires_at, NOW(6)) WHERE id = ?",
                    [.string(state.rawValue), .string(executor)])
            case .running, .stopping:
                try leases.execute(
                    "UPDATE cron_executor SET state = ? WHERE id = ? AND state IN ('running', 'stopping')",
                    [.string(state.rawValue), .string(executor)])
            }
        }
    }

    public func expiredHolders() throws(StoreError) -> [String] {
        try mapped {
            // Index hints: while a drain changes `cron` faster than statistics follow, the
            // optimizer was seen scanning the whole table for `task_id IS NOT NULL` (75,000 rows
            // read per call), and looking holders up by state instead of by id.
            let live =
                "SELECT 1 FROM cron_executor e FORCE INDEX (PRIMARY) WHERE e.id = %@ AND e.state IN ('running', 'stopping') AND \(MySQLStoreSQL.leaseHeld("e."))"
            let rows = try database.query(
                """
                SELECT id AS holder FROM cron_executor WHERE state IN ('running', 'stopping') AND NOT \(MySQLStoreSQL.leaseHeld("")) \
                UNION SELECT claimed_by FROM cron FORCE INDEX (cron_claim) WHERE task_id IS NOT NULL AND claimed_by IS NOT NULL \
                AND NOT EXISTS (\(live.replacingOccurrences(of: "%@", with: "cron.claimed_by"))) \
                UNION SELECT executor FROM cron_run FORCE INDEX (cron_run_status) WHERE status = 'running' \
                AND NOT EXISTS (\(live.replacingOccurrences(of: "%@", with: "cron_run.executor")))
                """, consistency: .primary)
            return rows.compactMap { $0["holder"].string }
        }
    }

    public func recover(
        executor: String, reason: String, self isSelf: Bool,
        plan: @Sendable (InterruptedFire) -> FirePlanner.Plan?,
        alerts: @Sendable (RecoveryEvent) -> [AlertDraft]
    ) throws(StoreError) -> RecoveryReport {
        try mapped {
            // Locking reads wait (up to `lock_wait_timeout`): the scan of claimed rows passes rows
            // other executors are finishing, so refusing to wait would fail it under load. A
            // client frozen inside a transaction holds its locks only until the server ends that
            // transaction (`idle_transaction_timeout`).
            try database.transaction { c -> RecoveryReport in
                /// A fire given up: its alerts and the task's failing flag, in this transaction.
                func givenUp(_ fire: InterruptedFire, _ key: RunKey, _ next: FirePlanner.Plan) throws {
                    let events = RecoveryEvent.events(of: fire, plan: next)
                    guard !events.isEmpty else { return }
                    if events.contains(where: \.marksFailing) {
                        try c.execute(MySQLStoreSQL.markFailing, [.int(fire.row.id)])
                    }
                    try raise(alerts(.fireGivenUp(fire, key, events)), on: c)
                }
                let registry = try c.query(
                    """
                    SELECT state, lease_expires_at, \(MySQLStoreSQL.leaseHeld("")) AS live FROM cron_executor \
                    WHERE id = ? FOR UPDATE
                    """,
                    [.string(executor)]
                ).first
                let state = registry.flatMap { ExecutorState(rawValue: $0["state"].string ?? "") }
                let leaseEnd = registry?["lease_expires_at"].date
                let holdsLease = registry?["live"].bool == true && (state == .running || state == .stopping)
                if holdsLease && !isSelf { return RecoveryReport(recovered: false, lostRuns: 0, freedRows: 0) }
                if state == .running || state == .stopping {
                    try c.execute(
                        "UPDATE cron_executor SET state = ?, busy = 0, lease_expires_at = LEAST(lease_expires_at, NOW(6)) WHERE id = ?",
                        [
                            .string(isSelf ? ExecutorState.stopped.rawValue : ExecutorState.dead.rawValue),
                            .string(executor),
                        ])
                    if !isSelf { try raise(alerts(.executorDead(executor)), on: c) }
                }
                let now = try databaseNow(c)
                let runs = try c.query(
                    "SELECT id, cron_id, scheduled_for, attempt, task_id, concurrent FROM cron_run WHERE status = 'running' AND executor = ? FOR UPDATE",
                    [.string(executor)])
                if !runs.isEmpty {
                    let ids = InList.padded(runs.compactMap { $0["id"].int.map(Int64.init) })
                    try c.execute(
                        "UPDATE cron_run SET status = 'lost', finished_at = NOW(6), error = ? WHERE status = 'running' AND id IN \(InList.placeholders(ids.count))",
                        [.string(StoredText.error(reason))] + ids.map { .int($0) })
                }
                // Concurrent runs were counted in `running`: each lost one is counted down once, and
                // its fire gets a retry when the planner says it runs again (at_least_once).
                for run in runs where run["concurrent"].bool == true {
                    try c.execute(
                        "UPDATE cron SET running = running - 1, updated_at = updated_at WHERE id = ? AND running > 0",
                        [run["cron_id"]])
                    guard
                        let task = try c.query(
                            "SELECT \(TaskRow.columns) FROM cron WHERE id = ? FOR UPDATE", [run["cron_id"]]
                        ).first.map(TaskRow.init(mysql:)), let fire = run["scheduled_for"].date
                    else { continue }
                    let attempt = run["attempt"].int ?? 0
                    let interrupted = InterruptedFire(
                        row: task, scheduledFor: fire, attempt: attempt, now: now, executorLost: !isSelf,
                        leaseEnd: leaseEnd, lostBefore: try lostAttempts(of: task.id, at: fire, before: attempt, on: c))
                    guard let next = plan(interrupted) else { continue }
                    let lost = interrupted.lostRun(
                        executor: executor, token: ClaimToken(0), reason: reason, concurrent: true)
                    if let retry = AttemptResult.retry(next, of: lost) {
                        try c.execute("UPDATE cron_run SET retry_at = ? WHERE id = ?", [.date(retry), run["id"]])
                    }
                    try givenUp(interrupted, lost.key, next)
                }
                let held = try c.query(
                    "SELECT \(TaskRow.columns) FROM cron WHERE task_id IS NOT NULL AND claimed_by = ? FOR UPDATE",
                    [.string(executor)]
                ).map(TaskRow.init(mysql:))
                for row in held {
                    guard let token = row.claimToken else { continue }
                    let started = runs.first {
                        $0["cron_id"].int.map(Int64.init) == row.id
                            && $0["task_id"].int.map(Int64.init) == token.rawValue
                            && $0["concurrent"].bool != true
                    }
                    let scheduledFor =
                        started?["scheduled_for"].date ?? row.claimedAttemptKey?.fire ?? row.fireAt ?? row.nextRun
                        ?? now
                    let attempt = started?["attempt"].int ?? row.claimedAttemptKey?.attempt ?? row.attempt
                    let interrupted = InterruptedFire(
                        row: row, scheduledFor: scheduledFor, attempt: attempt, now: now, startOnRecord: started != nil,
                        executorLost: !isSelf, leaseEnd: leaseEnd,
                        lostBefore: try lostAttempts(of: row.id, at: scheduledFor, before: attempt, on: c))
                    guard let next = plan(interrupted) else {
                        // Claimed and certainly never started: free it as it was.
                        try c.execute(
                            "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
                            [.int(row.id), .init(token)])
                        continue
                    }
                    if started == nil {
                        // It may have started: the attempt goes on record as lost (a start written
                        // later under this token leaves a final run as it is).
                        try upsertRuns(
                            [interrupted.lostRun(executor: executor, token: token, reason: reason)][...], on: c)
                    }
                    if row.editedSinceClaim {
                        // An edit replaced the fire meanwhile (a resume, a new next_run): it wins,
                        // as over a finishing run.
                        try c.execute(
                            "UPDATE cron SET task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?",
                            [.int(row.id), .init(token)])
                        continue
                    }
                    // A paused (or otherwise changed) row keeps its status: read and decided here.
                    let status = row.status == .active ? next.status : row.status
                    try c.execute(
                        """
                        UPDATE cron SET next_run = ?, fire_at = ?, attempt = ?, status = ?, error = ?, \
                        task_id = NULL, claimed_by = NULL, claimed_at = NULL WHERE id = ? AND task_id = ?
                        """,
                        [
                            .init(next.nextRun), .init(next.fireAt), .int(Int64(next.attempt)),
                            .string(status.rawValue), .init(next.error.map(StoredText.error)), .int(row.id),
                            .init(token),
                        ])
                    try givenUp(interrupted, interrupted.key, next)
                }
                return RecoveryReport(recovered: true, lostRuns: runs.count, freedRows: held.count)
            }
        }
    }

    /// Attempts of the fire before `attempt` that recovery ended as `lost` (by the run key's index).
    private func lostAttempts(of task: Int64, at fire: Date, before attempt: Int, on c: MySQLConnection) throws -> Int {
        try c.query(
            "SELECT COUNT(*) AS n FROM cron_run WHERE cron_id = ? AND scheduled_for = ? AND attempt < ? AND status = 'lost'",
            [.int(task), .date(fire), .int(Int64(attempt))]
        ).first?["n"].int ?? 0
    }

    public func executors() throws(StoreError) -> [ExecutorInfo] {
        try mapped {
            try read(
                "SELECT id, host, pid, threads, busy, tags, actions, state, started_at, heartbeat, lease_expires_at FROM cron_executor ORDER BY started_at DESC LIMIT 1000",
                consistency: .primary
            ).map { row in
                ExecutorInfo(
                    id: row["id"].string ?? "", host: row["host"].string ?? "",
                    pid: Int32(clamping: row["pid"].int ?? 0),
                    threads: row["threads"].int ?? 0, busy: row["busy"].int ?? 0,
                    tags: CommaList.items(row["tags"].string),
                    actions: CommaList.items(row["actions"].string),
                    state: ExecutorState(rawValue: row["state"].string ?? "") ?? .dead,
                    startedAt: row["started_at"].date ?? Date(timeIntervalSince1970: 0),
                    heartbeat: row["heartbeat"].date ?? Date(timeIntervalSince1970: 0),
                    leaseExpiresAt: row["lease_expires_at"].date ?? Date(timeIntervalSince1970: 0))
            }
        }
    }
}

extension MySQLStoreSQL {
    /// Whether an executor's lease still counts as held for others, by the database's clock: until
    /// a quarter of its length after it ends (its length: from the last renewal, `heartbeat`, to
    /// `lease_expires_at`). The quarter is for a step of the database's clock: a frozen executor's
    /// shell supervisors end its commands by 95 % of the lease on their own monotonic clocks, so a
    /// step forward of up to 30 % of the lease cannot let another executor start the same fire
    /// while they still run.
    static func leaseHeld(_ table: String) -> String {
        "TIMESTAMPADD(MICROSECOND, TIMESTAMPDIFF(MICROSECOND, \(table)heartbeat, \(table)lease_expires_at) DIV 4, \(table)lease_expires_at) >= NOW(6)"
    }
}
