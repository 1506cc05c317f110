import Foundation
import SundialActions
import SundialCore

/// A claimed row on its way to a pool thread.
///
/// A class: it passes through the idle queue, the ready queue and a thread, and copying a row
/// with all its strings at each step was measurable when a thousand fall due at once.
final class WorkItem: QueuedWork, Sendable {
    let row: TaskRow
    let token: ClaimToken
    let definition: Result<TaskDefinition, InvalidTask>
    /// When it should start, on the executor's monotonic clock (since its origin).
    let due: Duration
    /// The fire being run and its attempt.
    let fireAt: Date
    let attempt: Int
    /// A retry of a concurrent run (max_concurrency > 1): the row itself has moved on.
    let isDetached: Bool
    /// The run whose retry this is (taken from the store when it starts).
    let retrying: RunKey?
    /// When the claim was last known to stand (the claim's answer, or the last look).
    let confirmedAt: Duration

    init(
        row: TaskRow, token: ClaimToken, definition: Result<TaskDefinition, InvalidTask>, due: Duration,
        fireAt: Date, attempt: Int, isDetached: Bool, retrying: RunKey? = nil, confirmedAt: Duration? = nil
    ) {
        (self.row, self.token, self.definition, self.due) = (row, token, definition, due)
        (self.fireAt, self.attempt, self.isDetached, self.retrying) = (fireAt, attempt, isDetached, retrying)
        self.confirmedAt = confirmedAt ?? due
    }

    var claim: Claim { Claim(taskID: row.id, token: token) }
    var lastDuration: Double? { row.lastDuration }

    var isConcurrent: Bool {
        guard !isDetached else { return true }
        guard row.maxConcurrency > 1, case .success(let found) = definition else { return false }
        return found.schedule?.isRecurring == true
    }

    func later(_ due: Duration) -> WorkItem {
        WorkItem(
            row: row, token: token, definition: definition, due: due, fireAt: fireAt, attempt: attempt,
            isDetached: isDetached, retrying: retrying, confirmedAt: confirmedAt)
    }

    func confirmed(at now: Duration) -> WorkItem {
        WorkItem(
            row: row, token: token, definition: definition, due: due, fireAt: fireAt, attempt: attempt,
            isDetached: isDetached, retrying: retrying, confirmedAt: now)
    }
}
