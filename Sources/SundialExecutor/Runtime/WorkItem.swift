import Foundation

/// A claimed row on its way to a pool thread.
struct WorkItem: Sendable {
    var row: TaskRow
    var token: Int64
    var definition: Result<TaskDefinition, InvalidTask>
    /// When it should start, on this process's monotonic clock.
    var due: ContinuousClock.Instant
    /// The fire being run and its attempt.
    var fireAt: Date
    var attempt: Int
    /// A retry of a concurrent run (max_concurrency > 1): the row itself has moved on.
    var isDetached: Bool
}

/// Claimed work that is not due yet, earliest first (a binary heap).
struct IdleQueue {
    private var heap: [WorkItem] = []

    var count: Int { heap.count }
    var earliest: ContinuousClock.Instant? { heap.first?.due }

    mutating func insert(_ item: WorkItem) {
        heap.append(item)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].due < heap[parent].due else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes up to `limit` items due at or before `now`.
    mutating func popDue(_ now: ContinuousClock.Instant, limit: Int) -> [WorkItem] {
        var due: [WorkItem] = []
        while due.count < limit, let first = heap.first, first.due <= now {
            due.append(popFirst())
        }
        return due
    }

    mutating func removeAll() -> [WorkItem] {
        defer { heap.removeAll() }
        return heap
    }

    private mutating func popFirst() -> WorkItem {
        let first = heap[0]
        let last = heap.removeLast()
        guard !heap.isEmpty else { return first }
        heap[0] = last
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
