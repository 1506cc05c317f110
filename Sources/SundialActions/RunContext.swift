import Foundation
import SundialCore

/// One attempt of one task, as a handler sees it.
public final class RunContext: @unchecked Sendable {
    /// Why an attempt is being stopped.
    public enum CancelReason: Sendable, Equatable {
        case killRequested
        case timedOut
        /// The executor is shutting down, or lost its lease.
        case executorStopping
    }

    public let taskID: Int64
    public let taskName: String
    public let payload: Data
    /// What the handler's `prepare(payload:)` returned for this task.
    public let prepared: (any Sendable)?
    public let scheduledFor: Date
    /// 0 for the first attempt.
    public let attempt: Int
    /// The time limit for this attempt, if any.
    public let timeout: Double?

    private let lock = MonotonicCondition()
    private var reason: CancelReason?
    /// Output the handler has reported so far, and how many times it has.
    private var liveOutput = ""
    private var liveOutputVersion = 0
    private var handlers: [@Sendable (CancelReason) -> Void] = []

    public init(
        taskID: Int64, taskName: String, payload: Data, prepared: (any Sendable)? = nil, scheduledFor: Date,
        attempt: Int, timeout: Double?
    ) {
        self.taskID = taskID
        self.taskName = taskName
        self.payload = payload
        self.prepared = prepared
        self.scheduledFor = scheduledFor
        self.attempt = attempt
        self.timeout = timeout
    }

    /// Why the attempt was stopped, or nil while it may go on.
    public var cancelReason: CancelReason? {
        lock.lock()
        defer { lock.unlock() }
        return reason
    }

    public var isCancelled: Bool { cancelReason != nil }

    /// Calls `handler` once when the attempt is stopped (at once if it already was).
    public func onCancel(_ handler: @escaping @Sendable (CancelReason) -> Void) {
        lock.lock()
        if let reason {
            lock.unlock()
            handler(reason)
            return
        }
        handlers.append(handler)
        lock.unlock()
    }

    /// Stops the attempt. The first reason wins.
    public func cancel(_ why: CancelReason) {
        lock.lock()
        guard reason == nil else {
            lock.unlock()
            return
        }
        reason = why
        let toCall = handlers
        handlers.removeAll()
        lock.broadcast()
        lock.unlock()
        toCall.forEach { $0(why) }
    }

    /// Reports the output so far (bounded, head and tail), for people to follow while the attempt
    /// runs. The executor writes the latest of it about once a second.
    public func publishOutput(_ text: String) {
        lock.lock()
        liveOutput = text
        liveOutputVersion += 1
        lock.unlock()
    }

    /// The output so far if it was reported again since `version` (which is then moved on).
    public func outputReported(since version: inout Int) -> String? {
        lock.lock()
        defer { lock.unlock() }
        guard liveOutputVersion != version else { return nil }
        version = liveOutputVersion
        return liveOutput
    }

    /// Sleeps up to `seconds`, waking early when cancelled. Returns false if cancelled.
    public func sleep(_ seconds: Double) -> Bool {
        // Ten years at most; on the monotonic clock, so that a host clock step does not change it.
        let deadline = ContinuousClock.now + .seconds(seconds.isNaN ? 0 : min(max(seconds, 0), 315_360_000))
        lock.lock()
        defer { lock.unlock() }
        while reason == nil {
            if !lock.wait(until: deadline) { break }
        }
        return reason == nil
    }
}
