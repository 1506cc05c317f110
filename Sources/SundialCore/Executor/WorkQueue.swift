/// Claimed work that is not due yet, earliest first (a binary heap), each item handed out at
/// its `wakeAt`: its start, or a moment before for a last look at its claim.
///
/// Inlinable, as is the work machine's hot path: the executor's leader uses it with its own work
/// items, and generic code left unspecialised across the module boundary would cost every start.
public struct WorkQueue<Work: QueuedWork> {
    /// The wake time beside the item, so that sifting reads no item.
    @usableFromInline var heap: [(due: Duration, item: Work)] = []

    /// What the queued claimed rows cost to run, as far as is known.
    @inlinable public var held: HeldWork { heldWork }
    @usableFromInline var heldWork = HeldWork()
    @usableFromInline var detachedCount = 0

    @inlinable public init() {}

    @inlinable public var count: Int { heap.count }
    /// Queued work that holds a claim: not retries (they wait for their time, or for room in a
    /// task at its limit, without holding anything another executor could take).
    @inlinable public var claimedCount: Int { heap.count - detachedCount }
    @inlinable public var earliest: Duration? { heap.first?.due }
    /// Everything queued, in no particular order.
    @inlinable public var items: [Work] { heap.map(\.item) }

    @inlinable public mutating func insert(_ item: Work) {
        heap.append((item.wakeAt, item))
        if item.isDetached { detachedCount += 1 } else { heldWork.add(lastDuration: item.lastDuration) }
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].due < heap[parent].due else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes up to `limit` items to wake at or before `now`.
    @inlinable public mutating func popDue(_ now: Duration, limit: Int = .max) -> [Work] {
        var due: [Work] = []
        while due.count < limit, let first = heap.first, first.due <= now {
            due.append(popFirst())
        }
        return due
    }

    @inlinable public mutating func removeAll() -> [Work] {
        defer {
            heap.removeAll()
            heldWork = HeldWork()
            detachedCount = 0
        }
        return heap.map(\.item)
    }

    @inlinable mutating func popFirst() -> Work {
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast().item
        if first.isDetached { detachedCount -= 1 } else { heldWork.remove(lastDuration: first.lastDuration) }
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

extension WorkQueue: Sendable where Work: Sendable {}
