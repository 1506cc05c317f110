import Foundation
import SundialSchedule

/// How one attempt ended, as its handler reported it.
public enum AttemptEnd: Sendable, Equatable {
    case succeeded
    case failed(String)
    case timedOut
    case killed
    /// Cut short by something outside the task (its supervisor lost the executor, its start could
    /// not be recorded): not the task's failure.
    case interrupted(String)
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
    public init(
        row: TaskRow, schedule: Schedule?, run: RunRecord, end: AttemptEnd,
        cancelled: ExecutorMachine.CancelReason?, took: Double, now: Date, jitter: Double
    ) {
        let planner = FirePlanner(row: row, schedule: schedule)
        var record = run
        record.finishedAt = now
        var outcome: FirePlanner.Outcome
        var interruption: String?
        switch end {
        case .succeeded: outcome = .succeeded
        case .failed(let message): outcome = .failed(message)
        case .timedOut: outcome = .timedOut
        case .killed: outcome = .killed
        case .interrupted(let message):
            outcome = .failed(message)
            interruption = message
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
            plan = planner.afterInterruption(fireAt: run.scheduledFor, attempt: run.attempt, now: now, reason: reason)
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
        if run.concurrent {
            if let retry = Self.retry(plan, of: record) { record.retryAt = retry }
            finished = FinishedRun(run: record, row: nil)
        } else {
            finished = FinishedRun(
                run: record,
                row: RowFinish(claim: claim, plan: plan, claimed: ClaimedState(row), duration: interrupted ? nil : took)
            )
        }
    }

    /// When `plan` runs `run`'s fire again (its next attempt), as a concurrent run's retry.
    public static func retry(_ plan: FirePlanner.Plan, of run: RunRecord) -> Date? {
        guard plan.attempt > run.attempt, plan.fireAt == run.scheduledFor, plan.status == .active else { return nil }
        return plan.nextRun ?? run.finishedAt
    }
}
