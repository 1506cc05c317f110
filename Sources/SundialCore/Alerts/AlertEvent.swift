/// What an alert is about.
public enum AlertEvent: String, Sendable, CaseIterable, Codable {
    /// A fire's last attempt did not succeed (a recurring task: it moves on to its next fire).
    case failed
    /// A one-shot's last attempt did not succeed: the row is `dead` until someone resumes it.
    case dead
    /// An attempt was killed at its `timeout_seconds` (each one, retried or not).
    case timedOut = "timed_out"
    /// A fire had not started `alert_late_seconds` after its time. Any live executor notices,
    /// whatever its tags: it fires even when every executor that could run the task is down.
    case missed
    /// The first success after `failed`, `dead` or `timed_out` on the last attempt.
    case recovered
    /// An executor's lease ended without it stopping; another executor took its work over.
    case executorDead = "executor_dead"
    /// A late fire's action (or tags) is offered by no live executor.
    case noExecutorForAction = "no_executor_for_action"
    /// `sundial alert test`.
    case test

    /// Events that leave a task failing until it succeeds again.
    public var marksFailing: Bool { self == .failed || self == .dead }

    /// Events whose deduplication window this one ends: after `recovered`, the next failure is
    /// news whatever the window; after a failure, so is the next recovery.
    public var endsWindows: [AlertEvent] {
        switch self {
        case .recovered: [.failed, .dead, .timedOut]
        case .failed, .dead: [.recovered]
        default: []
        }
    }
}
