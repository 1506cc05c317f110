import Foundation

/// One row of `cron`: a task, its pending fire and its claim.
///
/// Every store reads rows into this shape and tolerates any value in any column: what cannot be
/// read (an unknown status, a number out of range) is read as something safe, and
/// `TaskDefinitions` explains what is wrong with the rest.
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
    /// The claim token (`cron.task_id`): nil when the row is free.
    public var claimToken: ClaimToken?
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
    /// Alert channels this task's events go to besides the defaults (comma-separated names).
    public var alerts: String?
    /// A fire not started this many seconds after its time is `missed`; nil: the default.
    public var alertLateSeconds: Double?
    /// The task has series of its own in the metrics.
    public var metrics = false
    /// A fire's last attempt failed and no run has succeeded since (for `recovered`).
    public var failing = false
    /// When a run last succeeded (store time).
    public var lastSuccessAt: Date?
    /// Who last asked for a run now, and the fire that asked for (`fire_at` then): runs of that
    /// fire, retries included, say who started them; later fires are the schedule's.
    public var requestedBy: String?
    public var requestedFire: Date?
    /// What the claim took: the fire and attempt it runs and the row's `next_run` then
    /// (`claimed_fire`, `claimed_attempt`, `claimed_next_run`), written by each claim under its
    /// token (`claimed_token`). They describe the current claim only while that token is the
    /// row's `task_id` (an executor of an older version claims without writing them).
    public var claimedToken: ClaimToken?
    public var claimedFire: Date?
    public var claimedAttempt: Int?
    public var claimedNextRun: Date?
    /// Changes whenever anything changes the row (MySQL: `updated_at`, kept by the server), so a
    /// finishing run can tell that someone edited the row since it was claimed.
    public var version: RowVersion?
    /// The version the current claim left the row at (MySQL: `claimed_at`, set by the claim in
    /// the statement that moves `updated_at`).
    public var claimedVersion: RowVersion?

    /// Whether anything changed the row since it was claimed (an edit of its settings, say): the
    /// settings the claim started its fire under are then unknown. True for a claimed row whose
    /// claim left no version.
    public var changedSinceClaim: Bool {
        guard claimToken != nil else { return false }
        guard let claimedVersion else { return true }
        return version != claimedVersion
    }

    /// The fire and attempt the current claim took, when it wrote them.
    public var claimedAttemptKey: (fire: Date, attempt: Int)? {
        guard let claimToken, claimedToken == claimToken, let claimedFire, let claimedAttempt else { return nil }
        return (claimedFire, claimedAttempt)
    }

    /// When the fire the current claim took was due: its `next_run` then, when the claim wrote it.
    public var claimedDue: Date? {
        claimedAttemptKey != nil ? claimedNextRun : nextRun
    }

    /// Whether an edit replaced the fire the current claim took since the claim (a resume to
    /// another fire, a new `next_run`, a new schedule's NULL): no executor changes them while the
    /// row is claimed. A resume that only moves the attempt on is not one (the fire stands).
    public var editedSinceClaim: Bool {
        guard let claimedFire = claimedAttemptKey?.fire else { return false }
        func same(_ a: Date?, _ b: Date?) -> Bool {
            switch (a, b) {
            case (nil, nil): true
            case (let a?, let b?): abs(a.timeIntervalSince(b)) < 0.000_000_5
            default: false
            }
        }
        return !same(fireAt ?? nextRun, claimedFire) || !same(nextRun, claimedNextRun)
    }

    /// Who asked for the fire at `fire` (nil: its schedule).
    public func requester(ofFire fire: Date) -> String? {
        guard let requestedFire, abs(requestedFire.timeIntervalSince(fire)) < 0.000_000_5 else { return nil }
        return requestedBy
    }

    /// A row with the columns' defaults.
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

/// A task's status (`cron.status`).
public typealias TaskStatus = TaskRow.Status

/// A row's version, opaque: equal versions mean nothing changed the row in between.
public struct RowVersion: Hashable, Sendable {
    public var rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
}
