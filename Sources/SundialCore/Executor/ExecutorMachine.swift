import Foundation

/// An executor's decisions, without I/O, threads or clocks: the lease and self-fencing, shutdown,
/// runs in flight and their deadlines, and claims to give back. Events go in (a renewal answered,
/// a claim failed, a run started or ended, a tick of the clock, a stop); actions come out for a
/// runtime to carry out. The runtime (`Executor`) drives it from its threads; the simulator
/// (`sundial-sim`) drives it from a virtual clock, with faults, and checks the invariants.
///
/// Times are the executor's monotonic clock, as a `Duration` since any origin: a lease is judged
/// by when its renewal was *sent*, never by the database's or the wall clock.
public struct ExecutorMachine: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Each renewal extends the lease this long (by the database's clock).
        public var lease: Duration
        /// On stop, running tasks get this long before they are killed.
        public var shutdownGrace: Duration

        public init(lease: Duration, shutdownGrace: Duration) {
            self.lease = lease
            self.shutdownGrace = shutdownGrace
        }

        /// Stop claiming and kill running tasks when the lease has not been renewed for this long:
        /// well before anyone else may take the work over (at the full lease).
        public var selfFenceAfter: Duration { lease * 0.7 }
    }

    /// Why a run is cut short.
    public enum CancelReason: Sendable, Equatable {
        case killRequested
        case timedOut
        /// Shutdown, self-fencing, or a lost lease: the fire is interrupted, not failed.
        case executorStopping
    }

    public enum Action: Sendable, Equatable {
        /// Cancel one run.
        case cancel(RunKey, CancelReason)
        /// Fenced off: cancel every run as interrupted and keep unstarted work for release.
        case fence
        /// The lease was lost and the work taken over: cancel everything, drop unstarted work
        /// (its claims are void), and register again.
        case abandon
        /// Every run has ended after a stop: write what is queued, free what is still held,
        /// mark the executor stopped.
        case finishStop
    }

    public enum Phase: Sendable, Equatable {
        case running
        /// Stopping: no claims, no new runs; running ones are killed at `graceEnds`.
        case stopping(graceEnds: Duration)
        case stopped
    }

    /// What a run in flight needs for decisions.
    public struct Running: Sendable, Equatable {
        public var claim: Claim
        public var deadline: Duration?
        public var cancelled: CancelReason?
    }

    /// How a renewal went.
    public enum Renewal: Sendable, Equatable {
        case renewed
        /// Another executor recovered this one's work: everything it holds is void.
        case lost
        case failed
    }

    public private(set) var settings: Settings
    public private(set) var phase: Phase = .running
    public private(set) var fenced = false
    /// When the last successful renewal was sent.
    public private(set) var lastRenewal: Duration
    public private(set) var running: [RunKey: Running] = [:]
    /// Claims to free once the store answers (by token: all its rows when the set is nil).
    public private(set) var unreleased: [ClaimToken: Set<Int64>?] = [:]
    /// The lease was lost: nothing is claimed or started until a registration succeeds (a claim
    /// made meanwhile would be held by an executor the registry calls dead, and recovered under it).
    public private(set) var needsRegistration = false

    /// Registered and renewed at `now`.
    public init(settings: Settings, now: Duration) {
        self.settings = settings
        self.lastRenewal = now
    }

    public mutating func reload(_ settings: Settings) { self.settings = settings }

    public var isStopping: Bool { phase != .running }

    /// Claims may be made and work started, as far as the last events say (see `mayClaim(at:)`).
    public var mayClaim: Bool { phase == .running && !fenced && !needsRegistration }

    /// Claims may be made at `now`: `mayClaim`, and the lease renewed recently enough that the
    /// watchdog would not fence now. The fence is the watchdog's, and a thread that resumes from
    /// a pause longer than the lease may run before it does: it must not act on a lease that
    /// others may already have recovered.
    public func mayClaim(at now: Duration) -> Bool {
        mayClaim && now - lastRenewal < settings.selfFenceAfter
    }

    // MARK: The lease

    /// A renewal sent at `sentAt` was answered at `now`.
    public mutating func renewalAnswered(_ renewal: Renewal, sentAt: Duration, now: Duration) -> [Action] {
        switch renewal {
        case .failed:
            return []
        case .lost:
            running = running.mapValues { run in
                var run = run
                run.cancelled = run.cancelled ?? .executorStopping
                return run
            }
            unreleased.removeAll()
            needsRegistration = true
            return [.abandon]
        case .renewed:
            lastRenewal = max(lastRenewal, sentAt)
            // A renewal counts from when it was sent: one stuck for most of the lease does not
            // lift the fence (the next tick would fence again and kill what had just started).
            if now - lastRenewal < settings.selfFenceAfter { fenced = false }
            return []
        }
    }

    /// How long the lease is certainly still valid at `now` (zero once fenced).
    /// Registered again (after a lost lease) by a call sent at `sentAt`.
    public mutating func registered(sentAt: Duration, now: Duration) {
        needsRegistration = false
        lastRenewal = max(lastRenewal, sentAt)
        if now - lastRenewal < settings.selfFenceAfter { fenced = false }
    }

    public func leaseLeft(at now: Duration) -> Duration {
        fenced ? .zero : max(.zero, lastRenewal + settings.lease - now)
    }

    // MARK: The clock

    /// The watchdog: fencing, timeouts, the end of the shutdown grace.
    public mutating func tick(now: Duration) -> [Action] {
        var actions: [Action] = []
        if !fenced && !needsRegistration && now - lastRenewal >= settings.selfFenceAfter {
            fenced = true
            cancelAll(.executorStopping)
            actions.append(.fence)
        }
        // In key order: the same events give the same actions in the same order.
        for (key, run) in running.sorted(by: { $0.key < $1.key }) where run.cancelled == nil {
            if let deadline = run.deadline, deadline <= now {
                running[key]?.cancelled = .timedOut
                actions.append(.cancel(key, .timedOut))
            }
        }
        if case .stopping(let graceEnds) = phase, graceEnds <= now {
            for (key, run) in running.sorted(by: { $0.key < $1.key }) where run.cancelled == nil {
                running[key]?.cancelled = .executorStopping
                actions.append(.cancel(key, .executorStopping))
            }
        }
        return actions
    }

    private mutating func cancelAll(_ reason: CancelReason) {
        for key in running.keys where running[key]?.cancelled == nil { running[key]?.cancelled = reason }
    }

    // MARK: Claims

    /// A claim failed; one whose outcome is unknown is released by its token later.
    public mutating func claimFailed(token: ClaimToken, _ error: StoreError) {
        if error.kind == .outcomeUnknown { keepForRelease(token, ids: nil) }
    }

    /// A release that failed is kept and tried again, never resubmitted as work: its outcome may
    /// be that the row is free already and another executor has it.
    public mutating func keepForRelease(_ token: ClaimToken, ids: [Int64]?) {
        switch (unreleased[token], ids) {
        case (nil, let ids?): unreleased[token] = Set(ids)
        case (let known??, let ids?): unreleased[token] = known.union(ids)
        default: unreleased[token] = .some(nil)
        }
    }

    /// A kept release succeeded.
    public mutating func released(_ token: ClaimToken) { unreleased[token] = nil }

    // MARK: Runs

    /// A claimed row may start at `now`: neither fenced nor stopping, and the lease still
    /// certainly held by the monotonic clock (whether or not the watchdog has looked yet).
    public func mayStart(at now: Duration) -> Bool { mayClaim(at: now) }

    /// A run started at `now`; it is cut short at once if the lease is no longer certainly held.
    public mutating func runStarted(_ key: RunKey, claim: Claim, deadline: Duration?, now: Duration) -> [Action] {
        let stale = fenced || now - lastRenewal >= settings.selfFenceAfter
        running[key] = Running(claim: claim, deadline: deadline, cancelled: stale ? .executorStopping : nil)
        return stale ? [.cancel(key, .executorStopping)] : []
    }

    /// A run ended; after a stop, the last one lets the stop finish.
    public mutating func runEnded(_ key: RunKey) -> [Action] {
        running[key] = nil
        if running.isEmpty, case .stopping = phase { return finishIfStopping() }
        return []
    }

    /// Someone asked to kill these runs.
    public mutating func killRequested(_ keys: [RunKey]) -> [Action] {
        keys.compactMap { key in
            guard running[key] != nil, running[key]?.cancelled == nil else { return nil }
            running[key]?.cancelled = .killRequested
            return .cancel(key, .killRequested)
        }
    }

    // MARK: Stopping

    /// SIGTERM: no more claims or starts; running tasks get the grace period.
    public mutating func stop(now: Duration) -> [Action] {
        guard phase == .running else { return [] }
        phase = .stopping(graceEnds: now + settings.shutdownGrace)
        return running.isEmpty ? finishIfStopping() : []
    }

    private mutating func finishIfStopping() -> [Action] {
        guard case .stopping = phase else { return [] }
        phase = .stopped
        return [.finishStop]
    }
}
