import Foundation
import SundialCore
import SundialMySQL

extension MySQLStore: AlertStore {
    @discardableResult
    public func raise(_ drafts: [AlertDraft]) throws(StoreError) -> Int {
        guard !drafts.isEmpty else { return 0 }
        return try mapped { try database.transaction { c in try raise(drafts, on: c) } }
    }

    /// Writes the drafts not raised within their window. The `alert_dedupe` row is locked by the
    /// upsert, so two executors raising the same alert at once write it once.
    @discardableResult
    func raise(_ drafts: [AlertDraft], on c: MySQLConnection) throws -> Int {
        var written = 0
        for draft in drafts where try isFresh(draft, on: c) {
            let attempt: MySQLValue = draft.run.map { .int(Int64($0.attempt)) } ?? .null
            let values: [MySQLValue] = [
                .string(draft.event.rawValue), .string(String(draft.subject.prefix(255))),
                draft.taskID.map { .int($0) } ?? .null,
                .init(draft.taskName.map { String($0.prefix(191)) }), .init(draft.run?.scheduled), attempt,
                .string(String(draft.channel.prefix(64))), .string(StoredText.error(draft.summary)),
                .init(draft.detail.map(StoredText.error)), .string(String(draft.raisedBy.prefix(191))),
            ]
            try c.execute(
                """
                INSERT INTO alert (event, subject, cron_id, task_name, scheduled_for, attempt, channel, summary, detail, raised_by) \
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, values)
            written += 1
        }
        return written
    }

    /// Whether `draft` was not raised within its window; a window of zero keeps every alert (even
    /// when the database's clock has stepped back).
    private func isFresh(_ draft: AlertDraft, on c: MySQLConnection) throws -> Bool {
        guard draft.dedupeWindow > .zero else { return true }
        // A recovery ends the failure's window, and a failure the recovery's: the next of each is news.
        let ended = draft.event.endsWindows
        if !ended.isEmpty {
            try c.execute(
                "DELETE FROM alert_dedupe WHERE subject = ? AND channel = ? AND event IN \(InList.placeholders(ended.count))",
                [.string(String(draft.subject.prefix(255))), .string(String(draft.channel.prefix(64)))]
                    + ended.map { .string($0.rawValue) })
        }
        // 1: inserted; 2: an old one renewed; 0: raised within the window (dropped).
        return try c.execute(
            """
            INSERT INTO alert_dedupe (event, subject, channel, raised_at) VALUES (?, ?, ?, NOW(6)) \
            ON DUPLICATE KEY UPDATE raised_at = IF(raised_at <= NOW(6) - INTERVAL ? MICROSECOND, NOW(6), raised_at)
            """,
            [
                .string(draft.event.rawValue), .string(String(draft.subject.prefix(255))),
                .string(String(draft.channel.prefix(64))), .int(draft.dedupeWindow.microseconds),
            ]
        ).affectedRows > 0
    }

    public func claimAlerts(
        channel: String, by executor: String, token: ClaimToken, lease: Duration, limit: Int
    ) throws(StoreError) -> [Alert] {
        guard limit > 0 else { return [] }
        return try mapped {
            try database.transaction { c in
                // SKIP LOCKED: executors claiming at once take different alerts.
                let ids = try c.query(
                    """
                    SELECT id FROM alert WHERE status = 'pending' AND channel = ? AND next_attempt_at <= NOW(6) \
                    AND (claimed_until IS NULL OR claimed_until < NOW(6)) ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED
                    """, [.string(channel), .int(Int64(limit))]
                ).compactMap { $0["id"].int.map(Int64.init) }
                guard !ids.isEmpty else { return [] }
                let padded = InList.padded(ids)
                try c.execute(
                    """
                    UPDATE alert SET claim_token = ?, claimed_by = ?, claimed_until = NOW(6) + INTERVAL ? MICROSECOND, \
                    attempts = attempts + 1 WHERE id IN \(InList.placeholders(padded.count))
                    """,
                    [.init(token), .string(String(executor.prefix(191))), .int(lease.microseconds)]
                        + padded.map { .int($0) })
                return try c.query(
                    "SELECT \(Alert.columns) FROM alert WHERE id IN \(InList.placeholders(padded.count)) ORDER BY id",
                    padded.map { .int($0) }
                ).map(Alert.init(mysql:))
            }
        }
    }

    @discardableResult
    public func settleAlert(
        id: Int64, token: ClaimToken, delivered: Bool, error: String?, retryIn: Duration?
    ) throws(StoreError) -> Bool {
        try mapped {
            let status = delivered ? "delivered" : (retryIn == nil ? "failed" : "pending")
            return try database.execute(
                """
                UPDATE alert SET status = ?, error = ?, delivered_at = IF(?, NOW(6), NULL), \
                next_attempt_at = NOW(6) + INTERVAL ? MICROSECOND, claim_token = NULL, claimed_until = NULL \
                WHERE id = ? AND claim_token = ? AND status = 'pending'
                """,
                [
                    .string(status), .init(error.map(StoredText.error)), .int(delivered ? 1 : 0),
                    .int((retryIn ?? .zero).microseconds), .int(id), .init(token),
                ]
            ).affectedRows == 1
        }
    }

    public func alerts(limit: Int) throws(StoreError) -> [Alert] {
        try mapped {
            try database.query(
                "SELECT \(Alert.columns) FROM alert ORDER BY id DESC LIMIT ?", [.int(Int64(max(0, limit)))],
                consistency: .primary
            ).map(Alert.init(mysql:))
        }
    }

    public func overdueFires(lateBy: Duration, after: OverdueCursor?, limit: Int) throws(StoreError)
        -> [OverdueFire]
    {
        try mapped {
            // The claim index's range of free active rows, most overdue first: nothing else is read.
            let resume = after == nil ? "" : "AND (next_run > ? OR (next_run = ? AND id > ?)) "
            let cursor: [MySQLValue] = after.map { [.date($0.nextRun), .date($0.nextRun), .int($0.id)] } ?? []
            return try database.query(
                """
                SELECT \(TaskRow.lateColumns), TIMESTAMPDIFF(MICROSECOND, next_run, NOW(6)) AS late_us FROM cron \
                WHERE task_id IS NULL AND status = 'active' AND next_run < NOW(6) - INTERVAL ? MICROSECOND \
                \(resume)ORDER BY next_run, id LIMIT ?
                """,
                [.int(lateBy.microseconds)] + cursor + [.int(Int64(max(0, limit)))], consistency: .primary
            ).map { OverdueFire(row: TaskRow(mysql: $0), late: .microseconds($0["late_us"].int ?? 0)) }
        }
    }

    public func taskSeries(limit: Int) throws(StoreError) -> [TaskSeries] {
        try mapped {
            try database.query(
                """
                SELECT name, last_success_at, IF(status = 'active', next_run, NULL) AS next_fire, \
                running + (task_id IS NOT NULL) AS in_flight FROM cron WHERE metrics <> 0 ORDER BY name LIMIT ?
                """, [.int(Int64(max(0, limit)))]
            ).map {
                TaskSeries(
                    name: $0["name"].string ?? "", lastSuccess: $0["last_success_at"].date,
                    nextFire: $0["next_fire"].date, running: $0["in_flight"].int ?? 0)
            }
        }
    }

    public func pruneAlerts(before: Date, limit: Int) throws(StoreError) -> Int {
        try mapped {
            let deleted = try database.execute(
                "DELETE FROM alert WHERE status <> 'pending' AND created_at < ? ORDER BY id LIMIT ?",
                [.date(before), .int(Int64(max(0, limit)))]
            ).affectedRows
            try database.execute(
                "DELETE FROM alert_dedupe WHERE raised_at < ? LIMIT ?", [.date(before), .int(Int64(max(0, limit)))])
            return deleted
        }
    }
}

extension Alert {
    static let columns =
        "id, event, subject, cron_id, task_name, scheduled_for, attempt, channel, summary, detail, raised_by, created_at, status, attempts, delivered_at, error, claim_token"

    init(mysql row: MySQLRow) {
        let scheduled = row["scheduled_for"].date
        let draft = AlertDraft(
            event: AlertEvent(rawValue: row["event"].string ?? "") ?? .test, subject: row["subject"].string ?? "",
            channel: row["channel"].string ?? "", taskID: row["cron_id"].int.map(Int64.init),
            taskName: row["task_name"].string,
            run: scheduled.map {
                RunKey(task: Int64(row["cron_id"].int ?? 0), scheduled: $0, attempt: row["attempt"].int ?? 0)
            },
            summary: row["summary"].string ?? "", detail: row["detail"].string, raisedBy: row["raised_by"].string ?? "",
            dedupeWindow: .zero)
        self.init(
            id: Int64(row["id"].int ?? 0), draft: draft,
            createdAt: row["created_at"].date ?? Date(timeIntervalSince1970: 0),
            status: Status(rawValue: row["status"].string ?? "") ?? .failed, attempts: row["attempts"].int ?? 0,
            deliveredAt: row["delivered_at"].date, error: row["error"].string,
            claim: row["claim_token"].int.map { ClaimToken(Int64($0)) })
    }
}
