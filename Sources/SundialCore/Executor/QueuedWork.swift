/// A claimed fire (or a concurrent run's retry) on its way from the claim to a thread, as the
/// work machine (`WorkMachine`) sees it. The runtime's and the simulator's work items both
/// conform, so that both are queued, looked at and handed out by the same decisions.
///
/// Times are the executor's monotonic clock, as a `Duration` since its origin.
public protocol QueuedWork {
    /// The row and the token it is held by (a retry's token holds no row).
    var claim: Claim { get }
    /// When it should start.
    var due: Duration { get }
    /// When its claim was last known to stand (the claim's answer, or its last look).
    var confirmedAt: Duration { get }
    /// A concurrent run (a retry, or a recurring task with `max_concurrency` above 1): the store
    /// checks its claim as it starts (`startConcurrentRun`), so it needs no last look.
    var isConcurrent: Bool { get }
    /// A concurrent run's retry: the row itself has moved on, and nothing is held to give back.
    var isDetached: Bool { get }
    /// The run whose retry this is.
    var retrying: RunKey? { get }
    /// How long the row's last run took (`cron.last_duration`), for the claim capacity.
    var lastDuration: Double? { get }
    /// The same work, due later.
    func later(_ due: Duration) -> Self
    /// The same work, its claim seen standing at `now`.
    func confirmed(at now: Duration) -> Self
}

/// How long before its start a fire claimed ahead is looked at once more: a pause or delete made
/// up to then stops it. A claim answered later than that is fresh enough.
public let lastLookLead: Duration = .milliseconds(50)

extension QueuedWork {
    /// Whether its claim is old enough at its start to be looked at again first.
    @inlinable public var needsLastLook: Bool { !isConcurrent && due - confirmedAt > lastLookLead }

    /// When the idle queue hands it out: its start, or its last look.
    @inlinable public var wakeAt: Duration { needsLastLook ? due - lastLookLead : due }
}

/// Work held as a value whose times can be set: `later` and `confirmed` are copies with one time
/// changed.
public protocol SettableQueuedWork: QueuedWork {
    var due: Duration { get set }
    var confirmedAt: Duration { get set }
}

extension SettableQueuedWork {
    public func later(_ due: Duration) -> Self {
        var later = self
        later.due = due
        return later
    }

    public func confirmed(at now: Duration) -> Self {
        var confirmed = self
        confirmed.confirmedAt = now
        return confirmed
    }
}
