import Foundation
import SundialCore
import SundialMySQL

extension TaskRow {
    /// The columns `init(mysql:)` reads, for SELECT lists.
    static let columns =
        claimColumns
        + ", alert_late_seconds, metrics, last_success_at, claimed_token, claimed_fire, claimed_attempt, claimed_next_run"

    /// What the late-fire check reads (no payload).
    static let lateColumns =
        "id, name, action, schedule, timezone, next_run, fire_at, attempt, task_id, status, tags, alerts, alert_late_seconds, updated_at"

    /// What a claim reads back: what running a fire needs (the columns of late-fire checks and
    /// metrics are left out; read without them they take their defaults).
    static let claimColumns =
        "id, name, action, payload, schedule, timezone, next_run, fire_at, attempt, task_id, claimed_by, status, error, max_attempts, backoff_seconds, backoff_max_seconds, timeout_seconds, max_concurrency, misfire_policy, misfire_limit, delivery, tags, running, last_duration, alerts, failing, requested_by, requested_fire, updated_at, claimed_at"

    /// Reads a row whatever its columns hold: values out of range are read as something safe
    /// (`TaskDefinitions` reports what is wrong with the rest).
    init(mysql row: MySQLRow) {
        self.init(id: Int64(row["id"].int ?? 0), name: row["name"].string ?? "", action: row["action"].string ?? "")
        payload = row["payload"].string
        schedule = row["schedule"].string
        timezone = row["timezone"].string ?? "UTC"
        nextRun = row["next_run"].date
        fireAt = row["fire_at"].date
        attempt = max(0, row["attempt"].int ?? 0)
        claimToken = row["task_id"].int.map { ClaimToken(Int64($0)) }
        claimedBy = row["claimed_by"].string
        status = Status(rawValue: row["status"].string ?? "") ?? .invalid
        error = row["error"].string
        maxAttempts = max(1, row["max_attempts"].int ?? 1)
        backoffSeconds = Self.finite(row["backoff_seconds"].double, or: 10)
        backoffMaxSeconds = Self.finite(row["backoff_max_seconds"].double, or: 3600)
        timeoutSeconds = row["timeout_seconds"].double.map { $0.isNaN ? 3600 : $0 }
        maxConcurrency = max(1, row["max_concurrency"].int ?? 1)
        misfirePolicy = MisfirePolicy(rawValue: row["misfire_policy"].string ?? "") ?? .runOnce
        misfireLimit = max(1, row["misfire_limit"].int ?? 100)
        delivery = Delivery(rawValue: row["delivery"].string ?? "") ?? .atLeastOnce
        tags = row["tags"].string
        running = max(0, row["running"].int ?? 0)
        lastDuration = row["last_duration"].double
        alerts = row["alerts"].string
        alertLateSeconds = row["alert_late_seconds"].double
        metrics = (row["metrics"].int ?? 0) != 0
        failing = (row["failing"].int ?? 0) != 0
        lastSuccessAt = row["last_success_at"].date
        requestedBy = row["requested_by"].string
        requestedFire = row["requested_fire"].date
        claimedToken = row["claimed_token"].int.map { ClaimToken(Int64($0)) }
        claimedFire = row["claimed_fire"].date
        claimedAttempt = row["claimed_attempt"].int
        claimedNextRun = row["claimed_next_run"].date
        version = row["updated_at"].date.map(RowVersion.init(microsecondsOf:))
        // The claim sets `claimed_at` to NOW(6) in the statement that moves `updated_at`: equal
        // until something else changes the row.
        claimedVersion = row["claimed_at"].date.map(RowVersion.init(microsecondsOf:))
    }

    private static func finite(_ value: Double?, or fallback: Double) -> Double {
        guard let value, value.isFinite else { return fallback }
        return max(0, value)
    }
}

extension RowVersion {
    /// The `updated_at` it stands for.
    var date: Date { Date(timeIntervalSince1970: Double(rawValue) / 1_000_000) }

    init(microsecondsOf date: Date) {
        self.init(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }
}

extension RunInfo {
    static let columns =
        "id, cron_id, scheduled_for, attempt, executor, started_at, finished_at, status, exit_code, output, error, requested_by"

    init(mysql row: MySQLRow) {
        self.init(
            id: Int64(row["id"].int ?? 0), taskID: Int64(row["cron_id"].int ?? 0),
            scheduledFor: row["scheduled_for"].date ?? Date(timeIntervalSince1970: 0), attempt: row["attempt"].int ?? 0,
            executor: row["executor"].string ?? "", startedAt: row["started_at"].date ?? Date(timeIntervalSince1970: 0),
            finishedAt: row["finished_at"].date, status: RunStatus(rawValue: row["status"].string ?? "") ?? .lost,
            exitCode: row["exit_code"].int, output: row["output"].string, error: row["error"].string,
            taskName: row["task_name"].string)
        requestedBy = row["requested_by"].string
    }
}

extension MySQLValue {
    init(_ token: ClaimToken) { self = .int(token.rawValue) }
}
