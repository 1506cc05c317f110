import Foundation
import SundialSchedule

/// What a claimed row becomes after its run: the planner's plan, fenced by the claim token, plus
/// what the row looked like at the claim so that edits made meanwhile win (`FinishRule`).
public struct RowFinish: Sendable, Equatable {
    public var claim: Claim
    public var plan: FirePlanner.Plan
    /// The row as claimed: its schedule, zone, `next_run` and version.
    public var claimed: ClaimedState
    /// Seconds the attempt ran, when it ran to an end (not when it was interrupted).
    public var duration: Double?
    /// When the attempt succeeded (`last_success_at`); nil when it did not.
    public var succeededAt: Date?

    public init(
        claim: Claim, plan: FirePlanner.Plan, claimed: ClaimedState, duration: Double? = nil, succeededAt: Date? = nil
    ) {
        (self.claim, self.plan, self.claimed, self.duration) = (claim, plan, claimed, duration)
        self.succeededAt = succeededAt
    }
}

/// The columns of a claimed row that an edit may change under a running fire.
public struct ClaimedState: Sendable, Equatable {
    public var schedule: String?
    public var timezone: String
    public var nextRun: Date?
    public var version: RowVersion?

    public init(schedule: String?, timezone: String, nextRun: Date?, version: RowVersion?) {
        (self.schedule, self.timezone, self.nextRun, self.version) = (schedule, timezone, nextRun, version)
    }

    public init(_ row: TaskRow) {
        self.init(schedule: row.schedule, timezone: row.timezone, nextRun: row.nextRun, version: row.version)
    }
}

/// One group commit: attempts that started, attempts that ended, and the rows they free.
public struct RunBatch: Sendable, Equatable {
    /// Attempts that started (status `running`).
    public var started: [RunRecord]
    /// Attempts that ended (a final status).
    public var finished: [FinishedRun]
    /// Output so far of attempts still running (one per attempt, the latest).
    public var progress: [RunProgress]

    public init(started: [RunRecord] = [], finished: [FinishedRun] = [], progress: [RunProgress] = []) {
        self.started = started
        self.finished = finished
        self.progress = progress
    }

    public var isEmpty: Bool { started.isEmpty && finished.isEmpty && progress.isEmpty }
    public var count: Int { started.count + finished.count + progress.count }
}

/// An attempt that ended, with its row's change when the attempt held the row (nil for a
/// concurrent run, whose row moved on when it started).
public struct FinishedRun: Sendable, Equatable {
    public var run: RunRecord
    public var row: RowFinish?
    /// What the attempt means for alerts (`failed`, `dead`, `timed_out`, `recovered`): the store
    /// keeps the task's `failing` flag from them, whether or not any channel takes them.
    public var events: [AlertEvent]
    /// The alerts to raise with it, one per channel, in the same transaction.
    public var alerts: [AlertDraft]

    public init(run: RunRecord, row: RowFinish?, events: [AlertEvent] = [], alerts: [AlertDraft] = []) {
        self.run = run
        self.row = row
        self.events = events
        self.alerts = alerts
    }

    /// The task's `failing` flag after this run: set, cleared (`recovered`), or left as it is
    /// (nil: most runs write nothing more).
    public var failing: Bool? {
        if events.contains(where: \.marksFailing) { return true }
        if events.contains(.recovered) { return false }
        return nil
    }
}

extension RowFinish {
    /// What a concurrent run's start makes of the row it claimed: moved on past `fireAt` and
    /// freed for the next fire, fenced by the claim, with the row as claimed so that an edit made
    /// since wins (`FinishRule`).
    public static func concurrentStart(
        of row: TaskRow, token: ClaimToken, schedule: Schedule?, fireAt: Date, now: Date
    ) -> RowFinish {
        RowFinish(
            claim: Claim(taskID: row.id, token: token),
            plan: FirePlanner(row: row, schedule: schedule).moveOn(after: fireAt, now: now), claimed: ClaimedState(row))
    }
}
