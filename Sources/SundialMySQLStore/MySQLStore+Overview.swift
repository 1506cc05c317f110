import Foundation
import SundialCore
import SundialMySQL

/// The dashboard's reads (`OverviewStore`), each by an index of `0008_console_queries.sql`.
extension MySQLStore: OverviewStore {
    public func taskCounts() throws(StoreError) -> [TaskStatus: Int] {
        try mapped {
            var counts: [TaskStatus: Int] = [:]
            for row in try read("SELECT status, COUNT(*) AS n FROM cron GROUP BY status") {
                if let status = TaskStatus(rawValue: row["status"].string ?? "") { counts[status] = row["n"].int ?? 0 }
            }
            return counts
        }
    }

    public func failingTasks(anyTags: Set<String>?, limit: Int) throws(StoreError) -> [TaskRow] {
        let (tags, values) = Self.tagCondition(anyTags, column: "tags")
        return try mapped {
            try read(
                "SELECT \(TaskRow.columns) FROM cron WHERE failing = 1 AND \(tags) ORDER BY name LIMIT ?",
                values + [.int(Int64(max(0, limit)))]
            ).map(TaskRow.init(mysql:))
        }
    }

    public func nextFires(anyTags: Set<String>?, limit: Int) throws(StoreError) -> [TaskRow] {
        let (tags, values) = Self.tagCondition(anyTags, column: "tags")
        return try mapped {
            try read(
                """
                SELECT \(TaskRow.columns) FROM cron WHERE status = 'active' AND next_run IS NOT NULL AND \(tags) \
                ORDER BY next_run LIMIT ?
                """, values + [.int(Int64(max(0, limit)))]
            ).map(TaskRow.init(mysql:))
        }
    }

    public func runOutcomes(from: Date, to: Date, bucket: Duration) throws(StoreError) -> [OutcomeCount] {
        let size = max(1, Int64(bucket.timeInterval))
        return try mapped {
            try read(
                """
                SELECT FLOOR(UNIX_TIMESTAMP(finished_at) / ?) AS bucket, status, COUNT(*) AS n FROM cron_run \
                WHERE finished_at >= ? AND finished_at < ? GROUP BY bucket, status ORDER BY NULL
                """, [.int(size), .date(from), .date(to)]
            ).compactMap { row in
                guard let status = RunStatus(rawValue: row["status"].string ?? ""), let index = row["bucket"].int else {
                    return nil
                }
                return OutcomeCount(
                    bucket: Date(timeIntervalSince1970: Double(Int64(index) * size)), status: status,
                    count: row["n"].int ?? 0)
            }
        }
    }

    public func startLags(since: Date, sample: Int) throws(StoreError) -> [Double] {
        try mapped {
            try read(
                """
                SELECT TIMESTAMPDIFF(MICROSECOND, scheduled_for, started_at) AS lag_us FROM cron_run \
                WHERE started_at >= ? AND attempt = 0 ORDER BY started_at DESC LIMIT ?
                """,
                [.date(since), .int(Int64(max(0, sample)))]
            ).compactMap { $0["lag_us"].int.map { Double($0) / 1e6 } }
        }
    }

    /// Rows with one of `tags` in `column` (byte for byte), or every row for nil.
    static func tagCondition(_ tags: Set<String>?, column: String) -> (String, [MySQLValue]) {
        guard let tags else { return ("1 = 1", []) }
        guard !tags.isEmpty else { return ("1 = 0", []) }
        let one = "FIND_IN_SET(?, CAST(REPLACE(\(column), ' ', '') AS BINARY)) > 0"
        return (
            "(" + Array(repeating: one, count: tags.count).joined(separator: " OR ") + ")",
            tags.sorted().map { .string($0) }
        )
    }
}
