import Foundation
import SundialMySQL

/// One row of `cron` as the executor reads it.
public struct TaskRow: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case active, paused, done, invalid, dead }
    public enum MisfirePolicy: String, Sendable, CaseIterable { case runOnce = "run_once", skip, runAll = "run_all" }
    public enum Delivery: String, Sendable, CaseIterable {
        case atLeastOnce = "at_least_once"
        case atMostOnce = "at_most_once"
    }

    public var id: Int64
    public var name: String
    public var action: String
    public var payload: String?
    public var schedule: String?
    public var timezone: String
    public var nextRun: Date?
    public var fireAt: Date?
    public var attempt: Int
    public var claimToken: Int64?
    public var claimedBy: String?
    public var status: Status
    public var error: String?
    public var maxAttempts: Int
    public var backoffSeconds: Double
    public var backoffMaxSeconds: Double
    public var timeoutSeconds: Double?
    public var maxConcurrency: Int
    public var misfirePolicy: MisfirePolicy
    public var misfireLimit: Int
    public var delivery: Delivery
    public var tags: String?
    public var running: Int
    /// Seconds the last finished attempt ran; nil before the first.
    public var lastDuration: Double?

    /// The columns `init(row:)` reads, for SELECT lists.
    public static let columns =
        "id, name, action, payload, schedule, timezone, next_run, fire_at, attempt, task_id, claimed_by, status, error, max_attempts, backoff_seconds, backoff_max_seconds, timeout_seconds, max_concurrency, misfire_policy, misfire_limit, delivery, tags, running, last_duration"

    public init(row: MySQLRow) {
        id = Int64(row["id"].int ?? 0)
        name = row["name"].string ?? ""
        action = row["action"].string ?? ""
        payload = row["payload"].string
        schedule = row["schedule"].string
        timezone = row["timezone"].string ?? "UTC"
        nextRun = row["next_run"].date
        fireAt = row["fire_at"].date
        attempt = row["attempt"].int ?? 0
        claimToken = row["task_id"].int.map(Int64.init)
        claimedBy = row["claimed_by"].string
        status = Status(rawValue: row["status"].string ?? "") ?? .invalid
        error = row["error"].string
        maxAttempts = max(1, row["max_attempts"].int ?? 1)
        backoffSeconds = max(0, row["backoff_seconds"].double ?? 10)
        backoffMaxSeconds = max(0, row["backoff_max_seconds"].double ?? 3600)
        timeoutSeconds = row["timeout_seconds"].double
        maxConcurrency = max(1, row["max_concurrency"].int ?? 1)
        misfirePolicy = MisfirePolicy(rawValue: row["misfire_policy"].string ?? "") ?? .runOnce
        misfireLimit = max(1, row["misfire_limit"].int ?? 100)
        delivery = Delivery(rawValue: row["delivery"].string ?? "") ?? .atLeastOnce
        tags = row["tags"].string
        running = row["running"].int ?? 0
        lastDuration = row["last_duration"].double
    }

    /// A row with defaults, for tests and the CLI.
    public init(id: Int64, name: String, action: String, payload: String? = nil, schedule: String? = nil) {
        self.id = id
        self.name = name
        self.action = action
        self.payload = payload
        self.schedule = schedule
        timezone = "UTC"
        attempt = 0
        status = .active
        maxAttempts = 1
        backoffSeconds = 10
        backoffMaxSeconds = 3600
        timeoutSeconds = 3600
        maxConcurrency = 1
        misfirePolicy = .runOnce
        misfireLimit = 100
        delivery = .atLeastOnce
        running = 0
    }
}
