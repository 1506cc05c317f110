import Foundation

/// One attempt's row in `cron_run`, as the executor knows it.
public struct RunRecord: Sendable, Equatable {
    public var taskID: Int64
    public var token: ClaimToken
    public var scheduledFor: Date
    public var attempt: Int
    public var executor: String
    /// Database time the attempt started (estimated from the executor's measured clock offset).
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: RunStatus
    public var exitCode: Int?
    public var output: String?
    public var error: String?
    /// A concurrent run (max_concurrency > 1): counted in `cron.running` until it ends.
    public var concurrent: Bool
    /// A concurrent run's fire runs again (next attempt) at this time, by any executor.
    public var retryAt: Date?
    /// Who asked for the fire (`TaskRow.requester(ofFire:)`); nil: its schedule.
    public var requestedBy: String?

    public init(
        taskID: Int64, token: ClaimToken, scheduledFor: Date, attempt: Int, executor: String, startedAt: Date,
        finishedAt: Date? = nil, status: RunStatus, exitCode: Int? = nil, output: String? = nil,
        error: String? = nil, concurrent: Bool = false, retryAt: Date? = nil, requestedBy: String? = nil
    ) {
        (self.taskID, self.token, self.scheduledFor, self.attempt, self.executor) = (
            taskID, token, scheduledFor, attempt, executor
        )
        (self.startedAt, self.finishedAt, self.status) = (startedAt, finishedAt, status)
        (self.exitCode, self.output, self.error, self.concurrent) = (exitCode, output, error, concurrent)
        (self.retryAt, self.requestedBy) = (retryAt, requestedBy)
    }

    public var key: RunKey { RunKey(task: taskID, scheduled: scheduledFor, attempt: attempt) }
}
