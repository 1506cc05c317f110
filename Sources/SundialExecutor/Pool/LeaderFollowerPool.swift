import Foundation
import SundialCore

/// A fixed set of OS threads in the leader/follower pattern.
///
/// One thread at a time is the leader: it waits for work by calling `lead` (which blocks: it may
/// sleep until a timer, claim rows from the database, …) and gets back a batch. It then gives up
/// leadership, wakes a follower to lead next, and runs the first item itself; the rest wait in the
/// ready queue for free threads. Work can also be pushed from outside (`submit`).
///
/// All state lives under one lock and every wait re-checks its condition, so no wake-up is lost:
/// a thread only sleeps when there is no ready work and another thread is leading.
public final class LeaderFollowerPool<Work: Sendable>: @unchecked Sendable {
    /// What the leader can ask about the pool while it waits for work. Live values, not a
    /// snapshot: a leader may wait a long time while the other threads finish their work.
    public struct Lead: Sendable {
        let pool: LeaderFollowerPool

        /// Threads with nothing to do, the leader included.
        public var idleThreads: Int { pool.withLock { pool.threadCount - pool.running } }
        /// Work already waiting for a thread.
        public var readyCount: Int { pool.withLock { pool.ready.count } }
    }

    public let threadCount: Int
    private let name: String
    private let lead: @Sendable (Lead) -> [Work]
    private let execute: @Sendable (Work) -> Void
    private let condition = MonotonicCondition()
    private var ready = FIFO<Work>()
    private var leading = false
    private var idle = 0
    private var running = 0
    private var stopping = false
    private var threads: [Thread] = []
    private var exited = 0

    /// - Parameters:
    ///   - lead: called by the leader, on its own thread, to wait for work. It must return when
    ///     `stop()` is called (the pool calls `onStop` for that).
    ///   - execute: runs one item on the calling pool thread.
    public init(
        threads: Int, name: String, lead: @escaping @Sendable (Lead) -> [Work],
        execute: @escaping @Sendable (Work) -> Void
    ) {
        precondition(threads >= 1, "a pool needs at least one thread")
        self.threadCount = threads
        self.name = name
        self.lead = lead
        self.execute = execute
    }

    private func withLock<T>(_ body: () -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body()
    }

    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard threads.isEmpty else { return }
        for i in 0..<threadCount {
            let thread = Thread { [self] in self.loop() }
            thread.name = "\(name)-\(i)"
            thread.stackSize = 1 << 20
            threads.append(thread)
        }
        threads.forEach { $0.start() }
    }

    /// Hands work to the pool from outside (another thread, a timer).
    public func submit(_ work: [Work]) {
        guard !work.isEmpty else { return }
        condition.lock()
        for item in work { ready.append(item) }
        condition.broadcast()
        condition.unlock()
    }

    /// Stops taking leadership; threads finish the ready queue and the work in hand, then exit.
    /// The caller must also make a blocked `lead` return.
    public func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every thread has exited (after `stop`), up to `timeout`. True if they all did.
    public func join(timeout: TimeInterval) -> Bool {
        let deadline = ContinuousClock.now + .seconds(timeout)
        condition.lock()
        defer { condition.unlock() }
        while exited < threads.count {
            if !condition.wait(until: deadline) { return exited == threads.count }
        }
        return true
    }

    /// Removes and returns the ready work no thread has started yet.
    public func drainReady() -> [Work] {
        condition.lock()
        defer { condition.unlock() }
        var drained: [Work] = []
        while let item = ready.popFirst() { drained.append(item) }
        return drained
    }

    /// Counts for monitoring and tests.
    public struct Snapshot: Sendable, Equatable {
        public var threads: Int
        public var alive: Int
        public var idle: Int
        public var running: Int
        public var ready: Int
        public var leading: Bool
    }

    public var snapshot: Snapshot {
        condition.lock()
        defer { condition.unlock() }
        return Snapshot(
            threads: threads.count, alive: threads.count - exited, idle: idle, running: running, ready: ready.count,
            leading: leading)
    }

    private func loop() {
        condition.lock()
        while true {
            if let work = ready.popFirst() {
                running += 1
                condition.unlock()
                execute(work)
                condition.lock()
                running -= 1
                continue
            }
            if stopping { break }
            if !leading {
                leading = true
                let context = Lead(pool: self)
                condition.unlock()
                let batch = lead(context)
                condition.lock()
                leading = false
                for item in batch { ready.append(item) }
                // Someone must lead next, and the batch may have more work than this thread.
                condition.broadcast()
                continue
            }
            idle += 1
            condition.wait()
            idle -= 1
        }
        exited += 1
        condition.broadcast()
        condition.unlock()
    }
}

/// A first-in first-out queue with O(1) amortised push and pop.
struct FIFO<Element> {
    private var items: [Element?] = []
    private var head = 0

    var count: Int { items.count - head }
    var isEmpty: Bool { count == 0 }

    mutating func append(_ item: Element) { items.append(item) }

    mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let item = items[head]
        items[head] = nil
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}
