import Foundation
import SundialActions
import SundialCore

/// A claimed row on its way to a pool thread.
///
/// A class: it passes through the idle queue, the ready queue and a thread, and copying a row
/// with all its strings at each step was measurable when a thousand fall due at once.
final class WorkItem: Sendable {
    let row: TaskRow
    let token: ClaimToken
    let definition: Result<TaskDefinition, InvalidTask>
    /// When it should start, on this process's monotonic clock.
    let due: ContinuousClock.Instant
    /// The fire being run and its attempt.
    let fireAt: Date
    let attempt: Int
    /// A retry of a concurrent run (max_concurrency > 1): the row itself has moved on.
    let isDetached: Bool
    /// The run whose retry this is (taken from the store when it starts).
    let retrying: RunKey?
    /// When the claim was last known to stand (the claim's answer, or the last look).
    let confirmedAt: ContinuousClock.Instant

    init(
        row: TaskRow, token: ClaimToken, definition: Result<TaskDefinition, InvalidTask>, due: ContinuousClock.Instant,
        fireAt: Date, attempt: Int, isDetached: Bool, retrying: RunKey? = nil,
        confirmedAt: ContinuousClock.Instant? = nil
    ) {
        (self.row, self.token, self.definition, self.due) = (row, token, definition, due)
        (self.fireAt, self.attempt, self.isDetached, self.retrying) = (fireAt, attempt, isDetached, retrying)
        self.confirmedAt = confirmedAt ?? due
    }

    var claim: Claim { Claim(taskID: row.id, token: token) }

    /// A concurrent run (a retry, or a recurring task with `max_concurrency` above 1): counted in
    /// `running` and checked by the store as it starts (`startConcurrentRun`).
    var isConcurrent: Bool {
        guard !isDetached else { return true }
        guard row.maxConcurrency > 1, case .success(let found) = definition else { return false }
        return found.schedule?.isRecurring == true
    }

    /// Whether its claim is old enough at its start to be looked at again first (a concurrent
    /// start is checked by the store anyway).
    var needsLastLook: Bool { !isConcurrent && due - confirmedAt > Executor.lastLook }

    /// When the idle queue hands it out: its start, or its last look.
    var wakeAt: ContinuousClock.Instant { needsLastLook ? due - Executor.lastLook : due }

    /// The same work, due later.
    func later(_ due: ContinuousClock.Instant) -> WorkItem {
        WorkItem(
            row: row, token: token, definition: definition, due: due, fireAt: fireAt, attempt: attempt,
            isDetached: isDetached, retrying: retrying, confirmedAt: confirmedAt)
    }

    /// The same work, its claim seen standing at `now`.
    func confirmed(at now: ContinuousClock.Instant) -> WorkItem {
        WorkItem(
            row: row, token: token, definition: definition, due: due, fireAt: fireAt, attempt: attempt,
            isDetached: isDetached, retrying: retrying, confirmedAt: now)
    }
}

/// Claimed work that is not due yet, earliest first (a binary heap), each item handed out at
/// its `wakeAt`: its start, or a moment before for a last look at its claim.
struct IdleQueue {
    /// The wake time beside the item, so that sifting reads no item.
    private var heap: [(due: ContinuousClock.Instant, item: WorkItem)] = []

    /// What the queued rows cost to run, as far as is known.
    private(set) var held = HeldWork()

    var count: Int { heap.count }
    var earliest: ContinuousClock.Instant? { heap.first?.due }

    mutating func insert(_ item: WorkItem) {
        heap.append((item.wakeAt, item))
        held.add(lastDuration: item.row.lastDuration)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].due < heap[parent].due else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes up to `limit` items to wake at or before `now`.
    mutating func popDue(_ now: ContinuousClock.Instant, limit: Int) -> [WorkItem] {
        var due: [WorkItem] = []
        while due.count < limit, let first = heap.first, first.due <= now {
            due.append(popFirst())
        }
        return due
    }

    mutating func removeAll() -> [WorkItem] {
        defer {
            heap.removeAll()
            held = HeldWork()
        }
        return heap.map(\.item)
    }

    private mutating func popFirst() -> WorkItem {
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast().item
        held.remove(lastDuration: first.row.lastDuration)
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < heap.count && heap[l].due < heap[smallest].due { smallest = l }
            if r < heap.count && heap[r].due < heap[smallest].due { smallest = r }
            if smallest == i { break }
            heap.swapAt(i, smallest)
            i = smallest
        }
        return first
    }
}
