import Foundation
import SundialCore
import SundialMySQL

/// Every task's runs, newest first by id (ids grow with time), each filter served by an index of
/// its own (`migrations/mysql/0008_run_history.sql`).
extension MySQLStore: RunHistory {
    /// How late a run may be written after it started: the period filter starts this much
    /// earlier in ids, then filters on the exact start time.
    static let startToInsertMargin: TimeInterval = 300
    /// Runs written together (a batch of the run recorder) may take ids out of start order: the
    /// period's first id is the least of this many earliest starts.
    static let startOrderWindow = 1000

    public func runs(_ filter: RunFilter, before: Int64?, limit: Int) throws(StoreError) -> [RunInfo] {
        var conditions: [String] = []
        var values: [MySQLValue] = []
        if let before {
            conditions.append("r.id < ?")
            values.append(.int(before))
        }
        if let status = filter.status {
            conditions.append("r.status = ?")
            values.append(.string(status.rawValue))
        }
        if let taskID = filter.taskID {
            conditions.append("r.cron_id = ?")
            values.append(.int(taskID))
        }
        if let executor = filter.executor {
            conditions.append("r.executor = ?")
            values.append(.string(executor))
        }
        if let since = filter.since {
            // The period's first id, found first by the start-time index, then bound as a value:
            // the listing is one range of ids, never a sort of the period nor a scan back to the
            // oldest run.
            let first = try mapped {
                try read(
                    """
                    SELECT MIN(id) AS first FROM (SELECT id FROM cron_run WHERE started_at >= ? ORDER BY started_at \
                    LIMIT \(Self.startOrderWindow)) AS first_started
                    """, [.date(since.addingTimeInterval(-Self.startToInsertMargin))]
                ).first?["first"].int
            }
            guard let first else { return [] }
            conditions.append("r.id >= ? AND r.started_at >= ?")
            values += [.int(Int64(first)), .date(since)]
        }
        if filter.anyTags != nil {
            let (tags, tagValues) = Self.tagCondition(filter.anyTags, column: "c.tags")
            conditions.append(tags)
            values += tagValues
        }
        values.append(.int(Int64(max(0, limit))))
        let condition = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try mapped {
            try read(
                """
                SELECT \(RunInfo.listColumns) FROM cron_run r LEFT JOIN cron c ON c.id = r.cron_id \(condition) \
                ORDER BY r.id DESC LIMIT ?
                """, values
            ).map(RunInfo.init(mysql:))
        }
    }

    public func run(id: Int64) throws(StoreError) -> RunInfo? {
        try mapped {
            try read(
                "SELECT \(RunInfo.listColumns), r.output FROM cron_run r LEFT JOIN cron c ON c.id = r.cron_id WHERE r.id = ?",
                [.int(id)], consistency: .primary
            ).first.map(RunInfo.init(mysql:))
        }
    }
}

extension RunInfo {
    /// A listing's columns: everything but the output, with the task's name.
    static let listColumns = """
        r.id, r.cron_id, r.scheduled_for, r.attempt, r.executor, r.started_at, r.finished_at, r.status, \
        r.exit_code, r.error, r.requested_by, c.name AS task_name
        """
}
