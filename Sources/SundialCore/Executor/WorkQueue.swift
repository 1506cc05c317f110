/// Claimed work that is not due yet, earliest first (a binary heap), each item handed out at
/// its `wakeAt`: its start, or a moment before for a last look at its claim.
public struct WorkQueue<Work: QueuedWork> {
    /// The wake time beside the item, so that sifting reads no item.
    private var heap: [(due: Duration, item: Work)] = []

    /// What the queued rows cost to run, as far as is known.
    public private(set) var held = HeldWork()

    public init() {}

    public var count: Int { heap.count }
    public var earliest: Duration? { heap.first?.due }
    /// Everything queued, in no particular order.
    public var items: [Work] { heap.map(\.item) }

    public mutating func insert(_ item: Work) {
        heap.append((item.wakeAt, item))
        held.add(lastDuration: item.lastDuration)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].due < heap[parent].due else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes up to `limit` items to wake at or before `now`.
    public mutating func popDue(_ now: Duration, limit: Int = .max) -> [Work] {
        var due: [Work] = []
        while due.count < limit, let first = heap.first, first.due <= now {
            due.append(popFirst())
        }
        return due
    }

    public mutating func removeAll() -> [Work] {
        defer {
            heap.removeAll()
            held = HeldWork()
        }
        return heap.map(\.item)
    }

    private mutating func popFirst() -> Work {
        heap.swapAt(0, heap.count - 1)
        let first = heap.removeLast().item
        held.remove(lastDuration: first.lastDuration)
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
