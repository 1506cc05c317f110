import Foundation

/// What a claimed row becomes when its run finishes, given what it looks like now: decided here,
/// once, for every store.
///
/// An edit made while the row was claimed wins over the finishing run: a changed `next_run` is
/// kept; a changed schedule or zone gets its next fire computed afresh (`next_run` NULL); a row
/// paused, or marked anything but active, stays so, except a one-shot whose fire succeeded (it is
/// done); a one-shot that was given a schedule is not marked done. Without an edit, the planner's plan is applied as it is. Either way the claim
/// is freed.
public enum FinishRule {
    /// The columns a finish writes.
    public struct Change: Sendable, Equatable {
        public var status: TaskStatus
        public var nextRun: Date?
        public var fireAt: Date?
        public var attempt: Int
        public var error: String?
        public var lastDuration: Double?
    }

    /// True when nothing changed the row since the claim: the plan applies as it is. Stores use
    /// it as a cheap, set-based condition (`updated_at` in MySQL) before reading the row.
    public static func isUnedited(_ current: TaskRow, since claimed: ClaimedState) -> Bool {
        guard let version = claimed.version, let now = current.version else { return false }
        return version == now
    }

    public static func resolve(current: TaskRow, finish: RowFinish) -> Change {
        let plan = finish.plan
        let claimed = finish.claimed
        let sameNextRun = current.nextRun == claimed.nextRun
        let sameSchedule = current.schedule == claimed.schedule && current.timezone == claimed.timezone
        let unedited = sameNextRun && sameSchedule
        // A one-shot paused while its only fire ran to success has nothing left to pause: it is
        // done (resuming it would run that fire again).
        let doneWhilePaused =
            current.status == .paused && plan.status == .done && finish.succeededAt != nil && unedited
        let status: TaskStatus =
            (current.status == .active && (plan.status != .done || current.schedule == claimed.schedule))
                || doneWhilePaused
            ? plan.status : current.status
        return Change(
            status: status,
            nextRun: sameNextRun ? (sameSchedule ? plan.nextRun : nil) : current.nextRun,
            fireAt: unedited ? plan.fireAt : nil,
            attempt: unedited ? plan.attempt : 0,
            error: plan.error,
            lastDuration: finish.duration ?? current.lastDuration)
    }

    /// The change for the row as it is now: the plan as it is when nothing changed the row since
    /// the claim, decided by `resolve` otherwise.
    public static func change(current: TaskRow, finish: RowFinish) -> Change {
        isUnedited(current, since: finish.claimed)
            ? unedited(finish, lastDuration: current.lastDuration) : resolve(current: current, finish: finish)
    }

    /// The change when the row is known to be unedited: the plan as it is.
    public static func unedited(_ finish: RowFinish, lastDuration: Double?) -> Change {
        Change(
            status: finish.plan.status, nextRun: finish.plan.nextRun, fireAt: finish.plan.fireAt,
            attempt: finish.plan.attempt, error: finish.plan.error, lastDuration: finish.duration ?? lastDuration)
    }
}
