/// Whether run results are reaching the store, judged on the executor's monotonic clock: since
/// when writes have been failing, and since when the write in progress has been going. Results
/// that cannot be written keep their rows claimed, so an executor whose results have been stuck
/// for a whole lease must not renew it (it fences itself and others recover its work); a write
/// that hangs counts as much as one that fails.
///
/// Times are a `Duration` since any origin.
public struct ResultsStall: Sendable, Equatable {
    /// A write in progress counts as a stall once it has taken this long (a normal write takes
    /// milliseconds; one that hangs is a stall from its start).
    public static let slowWrite: Duration = .seconds(1)

    private var failingSince: Duration?
    private var writingSince: Duration?

    public init() {}

    /// A write of queued results began at `now`.
    public mutating func writeBegan(at now: Duration) {
        if writingSince == nil { writingSince = now }
    }

    /// One try of a write ended at `now`; a failed try is tried again (the write goes on). A try
    /// that succeeded is progress: a write split into parts counts as stuck only from its last
    /// part that went through.
    public mutating func tryEnded(succeeded: Bool, at now: Duration) {
        if succeeded {
            failingSince = nil
            if writingSince != nil { writingSince = now }
        } else if failingSince == nil {
            failingSince = now
        }
    }

    /// The write, with all its tries, is over.
    public mutating func writeEnded() { writingSince = nil }

    /// How long results have been stuck at `now`, if they are.
    public func stalledFor(at now: Duration) -> Duration? {
        let slow = writingSince.flatMap { now - $0 >= Self.slowWrite ? $0 : nil }
        guard let since = [failingSince, slow].compactMap({ $0 }).min() else { return nil }
        return now - since
    }

    /// Whether the lease may be renewed at `now`: not once results have been stuck a whole lease.
    public func mayRenew(lease: Duration, at now: Duration) -> Bool {
        (stalledFor(at: now) ?? .zero) < lease
    }
}
