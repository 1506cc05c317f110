import Foundation
import SundialSchedule

/// How one attempt ended, as its handler reported it.
public enum AttemptEnd: Sendable, Equatable {
    case succeeded
    case failed(String)
    case timedOut
    case killed
    /// Cut short by something outside the task (its supervisor lost the executor): not the task's
    /// failure.
    case interrupted(String)
    /// The handler never ran: its start could not be recorded (`at_most_once`) or confirmed (a
    /// concurrent run) in time. The fire is tried again as its next attempt, whatever its
    /// delivery: it still runs at most once.
    case notRun(String)
}

/// What the executor writes after an attempt: the run's final record and the row's change; for a
/// concurrent run (whose row moved on when it started), the retry of its fire in the run record
/// (`retryAt`), taken later by any executor. Pure: the runtime and the simulator decide it the
/// same way.
public struct AttemptResult: Sendable, Equatable {
    public var finished: FinishedRun

    /// - Parameters:
    ///   - run: the attempt's record as started (its output and exit code filled in by the caller).
    ///   - cancelled: why the executor cut it short, if it did.
    ///   - took: seconds it ran, for `last_duration`.
    ///   - alerting: the channels its events go to (`FinishedRun.alerts`).
    public init(
        row: TaskRow, schedule: Schedule?, run: RunRecord, end: AttemptEnd,
        cancelled: ExecutorMachine.CancelReason?, took: Double, now: Date, jitter: Double,
        alerting: AlertRouting = AlertRouting()
    ) {
        let planner = FirePlanner(row: row, schedule: schedule)
        var record = run
        record.finishedAt = now
        var outcome: FirePlanner.Outcome
        var interruption: String?
        var ran = true
        switch end {
        case .succeeded: outcome = .succeeded
        case .failed(let message): outcome = .failed(message)
        case .timedOut: outcome = .timedOut
        case .killed: outcome = .killed
        case .interrupted(let message):
            outcome = .failed(message)
            interruption = message
        case .notRun where cancelled == .killRequested:
            // Someone killed it before it started: that is what it is.
            outcome = .killed
        case .notRun(let message):
            outcome = .failed(message)
            interruption = "not run: \(message)"
            ran = false
        }
        switch cancelled {
        case .timedOut? where outcome != .succeeded: outcome = .timedOut
        case .killRequested? where outcome != .succeeded: outcome = .killed
        default: break
        }
        let interrupted = outcome != .succeeded && (interruption != nil || cancelled == .executorStopping)
        let plan: FirePlanner.Plan
        if interrupted {
            let reason = interruption ?? "the executor stopped during the run"
            record.status = .killed
            record.error = reason
            plan =
                ran
                ? planner.afterInterruption(fireAt: run.scheduledFor, attempt: run.attempt, now: now, reason: reason)
                : planner.afterNotRun(fireAt: run.scheduledFor, attempt: run.attempt, now: now, reason: reason)
        } else {
            plan = planner.afterRun(
                fireAt: run.scheduledFor, attempt: run.attempt, outcome: outcome, now: now, jitter: jitter)
            switch outcome {
            case .succeeded: record.status = .succeeded
            case .failed(let message): (record.status, record.error) = (.failed, message)
            case .timedOut: (record.status, record.error) = (.timedOut, plan.error)
            case .killed: (record.status, record.error) = (.killed, plan.error)
            }
        }
        let claim = Claim(taskID: row.id, token: run.token)
        let events = Self.events(
            row: row, run: record, plan: plan, killedOnRequest: !interrupted && record.status == .killed)
        if run.concurrent {
            if let retry = Self.retry(plan, of: record) { record.retryAt = retry }
            finished = FinishedRun(run: record, row: nil, events: events)
        } else {
            finished = FinishedRun(
                run: record,
                row: RowFinish(
                    claim: claim, plan: plan, claimed: ClaimedState(row), duration: interrupted ? nil : took,
                    succeededAt: record.status == .succeeded ? now : nil),
                events: events)
        }
        if !events.isEmpty { finished.alerts = alerting.drafts(for: finished, task: row) }
    }

    /// What an attempt that ended as `run` (its final status set) with `plan` next means for
    /// alerts: `timed_out` for every timed-out attempt; when no attempt of the fire follows,
    /// `dead` (the row is dead) or `failed` (it moves on; not when someone killed it); a
    /// success of a failing task is `recovered`.
    public static func events(row: TaskRow, run: RunRecord, plan: FirePlanner.Plan, killedOnRequest: Bool)
        -> [AlertEvent]
    {
        if run.status == .succeeded { return row.failing ? [.recovered] : [] }
        var events: [AlertEvent] = run.status == .timedOut ? [.timedOut] : []
        let retried = plan.status == .active && plan.fireAt == run.scheduledFor && plan.attempt > run.attempt
        if plan.status == .dead {
            events.append(.dead)
        } else if !retried && !killedOnRequest {
            events.append(.failed)
        }
        return events
    }

    /// When `plan` runs `run`'s fire again (its next attempt), as a concurrent run's retry.
    public static func retry(_ plan: FirePlanner.Plan, of run: RunRecord) -> Date? {
        guard plan.attempt > run.attempt, plan.fireAt == run.scheduledFor, plan.status == .active else { return nil }
        return plan.nextRun ?? run.finishedAt
    }
}
