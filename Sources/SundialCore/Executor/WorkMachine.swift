import Foundation

/// An executor's decisions about the work in its hands, without I/O, threads or clocks: when the
/// leader claims and how many rows, what waits in the idle queue and when it is handed out, the
/// last look at a claim made well ahead, what an answer means when it comes back after the held
/// work was dropped (held-work epochs), what each answer to a concurrent start means (run, wait
/// for room, give back, mark invalid, ask again), the retries queue, overdue work, and what is
/// given back when the executor fences itself off, loses its lease or stops.
///
/// The runtime (`Executor`) and the simulator (`sundial-sim`) both drive it: they carry out its
/// steps (a claim, a last look, a wait) and report the answers; neither decides a fire's fate
/// itself. It works beside `ExecutorMachine`, which owns the lease, fencing and the runs in
/// flight, and reads it for whether it may claim or start.
///
/// Times are the executor's monotonic clock, as a `Duration` since any origin.
public struct WorkMachine<Work: QueuedWork> {
    public typealias Settings = WorkSettings

    /// A claim to make: its size, whether it also looks for rows without `next_run`, and the
    /// epoch of the held work it was decided in.
    public struct ClaimOrder: Sendable, Equatable {
        public var limit: Int
        public var includeUnscheduled: Bool
        public var epoch: Int

        @inlinable public init(limit: Int, includeUnscheduled: Bool, epoch: Int) {
            (self.limit, self.includeUnscheduled, self.epoch) = (limit, includeUnscheduled, epoch)
        }
    }

    /// What the leader does next.
    public enum Step {
        /// Hand these to threads: they are due.
        case run([Work])
        /// Ask the store whether these claims still stand (`ClaimStore.stillClaimed`), then report
        /// with `looked`.
        case look([Work], epoch: Int)
        /// Claim (`ClaimStore.claim`), then report with `claimAnswered`.
        case claim(ClaimOrder)
        /// Sleep until then, or until woken. `forThreads`: nothing may be claimed while every
        /// thread is busy, so a run that ends must wake the leader.
        case wait(until: Duration, forThreads: Bool)
        /// The executor is stopping: lead no more.
        case stop
    }

    /// What an answer leads to: work to hand to threads, claims to give back.
    public struct Outcome {
        public var run: [Work]
        public var giveBack: [Claim]

        @inlinable public init(run: [Work] = [], giveBack: [Claim] = []) {
            (self.run, self.giveBack) = (run, giveBack)
        }
    }

    /// How a claim went.
    public enum ClaimAnswer {
        /// The rows claimed (as work, due on the executor's clock), and how many of them had no `next_run`.
        case claimed([Work], unscheduled: Int)
        /// Claimed, but the database's time could not be read: nothing can start on time.
        case claimedWithoutClock([Claim], unscheduled: Int)
        /// A deadlock or lock-wait timeout with another writer: nothing was claimed.
        case conflict
        case failed(token: ClaimToken, StoreError)
    }

    /// A concurrent start whose outcome is unknown: asked again until the store answers.
    public struct UncertainStart {
        public var record: RunRecord
        public var moveOn: RowFinish?
        public var work: Work

        @inlinable public init(record: RunRecord, moveOn: RowFinish?, work: Work) {
            (self.record, self.moveOn, self.work) = (record, moveOn, work)
        }
    }

    /// What to do with a concurrent run after the store answered its start.
    public enum StartDecision: Equatable {
        /// On record and counted: run it.
        case run
        /// Not started: give back what its claim holds (nothing for a retry).
        case giveBack([Claim])
        /// A retry of a task at its limit: queued again for a second later.
        case waitForRoom
        /// The outcome is unknown: kept to be asked again; not run.
        case uncertain
        /// Refused for good: the row is marked invalid with this reason.
        case markInvalid(String)
        /// A retry that could not start: it stays in the store for the next look.
        case forget
    }

    /// What to do with an uncertain start after the store answered again.
    public enum Settlement {
        /// Still no answer.
        case keepAsking
        /// It was not written: nothing to do.
        case forget
        /// It was written but never run: end it as not run (its fire runs again).
        case endAsNotRun(UncertainStart)
    }

    /// The queue, held-work epoch and uncertain starts, as they stand.
    public var idle: WorkQueue<Work> { queue }
    /// Moves on whenever held work is dropped (fenced off, or the lease lost): an answer to a
    /// claim or a look sent before that must not be queued or started after it.
    public var epoch: Int { heldEpoch }
    public var uncertainStarts: [UncertainStart] { uncertain }

    // The state is open to inlinable code only: the executor's leader runs this machine with
    // its own work items, and unspecialised generic code would cost every claim and start.
    @usableFromInline var configured: Settings
    @usableFromInline var queue = WorkQueue<Work>()
    @usableFromInline var sizing = ClaimCapacity()
    @usableFromInline var heldEpoch = 0
    @usableFromInline var uncertain: [UncertainStart] = []
    @usableFromInline var nextPoll: Duration
    /// When a claim last looked for rows without `next_run` (nil: the next claim looks).
    @usableFromInline var lastUnscheduledLook: Duration?
    /// Retries queued here and not started yet (so that each is queued once).
    @usableFromInline var queuedRetries: Set<RunKey> = []

    @inlinable public init(settings: Settings, now: Duration) {
        self.configured = settings
        self.nextPoll = now
    }

    @inlinable public mutating func reload(_ settings: Settings) { configured = settings }

    /// The claims `work` holds (a retry holds none).
    @inlinable public static func claims(of work: [Work]) -> [Claim] { work.filter { !$0.isDetached }.map(\.claim) }

    // MARK: The leader

    /// The leader's next step at `now`, with `idleThreads` free (itself included) and
    /// `readyCount` items handed out and not started yet.
    @inlinable public mutating func lead(_ executor: ExecutorMachine, now: Duration, idleThreads: Int, readyCount: Int)
        -> Step
    {
        guard !executor.isStopping else { return .stop }
        // Everything due goes to threads at once: they take it without waiting for the next
        // leader, and what waits too long for one goes back (`overdue`).
        let woken = queue.popDue(now)
        if !woken.isEmpty {
            let ready = woken.filter { !$0.needsLastLook }
            if !ready.isEmpty {
                // Due work goes first; the look is the next leader's.
                for item in woken where item.needsLastLook { queue.insert(item) }
                return .run(ready)
            }
            return .look(woken, epoch: heldEpoch)
        }
        let limit =
            executor.mayClaim(at: now)
            ? sizing.limit(
                batch: configured.batch, idleThreads: idleThreads, allowance: configured.queueAllowance,
                pending: queue.claimedCount + readyCount, held: queue.held)
            : 0
        let claimReturnsInTime = sizing.mayClaim(untilDue: queue.earliest.map { ($0 - now).timeInterval })
        if now >= nextPoll && limit > 0 && claimReturnsInTime {
            let lookForUnscheduled = lastUnscheduledLook.map { now - $0 >= configured.pollInterval } ?? true
            if lookForUnscheduled { lastUnscheduledLook = now }
            return .claim(ClaimOrder(limit: limit, includeUnscheduled: lookForUnscheduled, epoch: heldEpoch))
        }
        var wake = limit > 0 && claimReturnsInTime ? nextPoll : now + configured.pollInterval
        if let earliest = queue.earliest, earliest < wake { wake = earliest }
        return .wait(until: wake, forThreads: limit == 0)
    }

    /// The last look sent at `sentAt` answered at `now`: `kept` still stand (or could not be
    /// looked at: they start, as they would have without the look), `dropped` were paused,
    /// deleted or taken since. The claims are known to stand as of `sentAt`, not `now`: the
    /// database read them when it got the look, and a slow answer is no fresher than that.
    @inlinable public mutating func looked(
        kept: [Work], dropped: [Work], epoch: Int, executor: ExecutorMachine, sentAt: Duration, now: Duration
    ) -> Outcome {
        var outcome = Outcome(giveBack: Self.claims(of: dropped))
        guard !executor.isStopping, epoch == heldEpoch else {
            // Stopped, fenced or declared dead while the look was out: the held work was dropped
            // meanwhile, and these go with it.
            outcome.giveBack += Self.claims(of: kept)
            return outcome
        }
        for item in kept { hold(item.confirmed(at: sentAt), now: now, into: &outcome) }
        return outcome
    }

    /// A claim ordered by `lead` answered at `now`, after `took`. `jitter` in 0...1 spreads the
    /// retries of executors that conflicted with each other.
    @inlinable public mutating func claimAnswered(
        _ answer: ClaimAnswer, order: ClaimOrder, took: Duration, executor: inout ExecutorMachine, now: Duration,
        jitter: Double
    ) -> Outcome {
        sizing.observeClaim(seconds: took.timeInterval)
        switch answer {
        case .claimed(let items, let unscheduled):
            // Unscheduled rows are coming in: keep looking for them at every claim.
            if unscheduled > 0 { lastUnscheduledLook = nil }
            guard executor.mayClaim(at: now), order.epoch == heldEpoch else {
                // Stopped or fenced while the claim was in flight: give it all back.
                return Outcome(giveBack: Self.claims(of: items))
            }
            // A full batch means more may be waiting: ask again at once.
            nextPoll = items.count == order.limit ? now : now + configured.pollInterval
            var outcome = Outcome()
            for item in items { hold(item, now: now, into: &outcome) }
            return outcome
        case .claimedWithoutClock(let claims, let unscheduled):
            if unscheduled > 0 { lastUnscheduledLook = nil }
            nextPoll = now + configured.pollInterval
            return Outcome(giveBack: claims)
        case .conflict:
            // Another writer held the rows: try again soon, not a poll interval later, or fires
            // due now start late.
            nextPoll = now + .microseconds(500 + Int64(4_500 * min(max(jitter, 0), 1)))
        case .failed(let token, let error):
            // A claim whose outcome is unknown is released by its token later.
            executor.claimFailed(token: token, error)
            nextPoll = now + configured.pollInterval
        }
        return Outcome()
    }

    /// Work in hand at `now`: due and fresh enough, it runs; otherwise it waits in the queue for
    /// its time or for its last look (a claim whose answer came late is as old as its sending).
    @inlinable mutating func hold(_ item: Work, now: Duration, into outcome: inout Outcome) {
        if item.due <= now && !item.needsLastLook { outcome.run.append(item) } else { queue.insert(item) }
    }

    /// A run took `seconds`: recent runs' pace sizes the claims.
    @inlinable public mutating func observeRun(seconds: Double) { sizing.observeRun(seconds: seconds) }

    // MARK: Starting

    /// A thread takes `work` to start it: a retry is no longer queued here.
    @inlinable public mutating func starting(_ work: Work) {
        if let retrying = work.retrying { queuedRetries.remove(retrying) }
    }

    /// The store answered a concurrent run's start (`record`, moving the row on as `moveOn` says) at `now`.
    @inlinable public mutating func concurrentStartAnswered(
        _ work: Work, _ answer: Result<ConcurrentStart, StoreError>, record: RunRecord, moveOn: RowFinish?,
        executor: inout ExecutorMachine, now: Duration
    ) -> StartDecision {
        switch answer {
        case .success(.started), .success(.alreadyStarted):
            return .run
        case .success(.claimLost):
            // Paused, deleted or taken since the claim: whatever the token still holds goes back
            // (fenced by the token, so a row someone else holds is untouched).
            return .giveBack(Self.claims(of: [work]))
        case .success(.noRoom):
            // The task is at its limit. A claimed fire (a retry took the last place since the
            // claim) goes back to the store, which hands it out again once there is room: held
            // here, it would count as work in hand for as long as the runs last. A retry (handed
            // out only while there was room, and holding no claim) tries again a second later,
            // so that new fires do not keep taking its place.
            guard work.isDetached, executor.mayStart(at: now) else {
                // Given back still due, and claimable while `running` is below the limit (a due
                // retry holds the place): not claimed again before the next poll.
                nextPoll = max(nextPoll, now + configured.pollInterval)
                return .giveBack(Self.claims(of: [work]))
            }
            queue.insert(work.later(now + .seconds(1)))
            // Still queued here: not queued a second time by the next look for retries.
            if let retrying = work.retrying { queuedRetries.insert(retrying) }
            return .waitForRoom
        case .failure(let error) where error.kind == .outcomeUnknown:
            // Asked again until the store answers, and ended as not run if it was written (its
            // fire then runs again); the claim is released by its token meanwhile.
            if !work.isDetached { executor.keepForRelease(work.claim.token, ids: [work.claim.taskID]) }
            uncertain.append(UncertainStart(record: record, moveOn: moveOn, work: work))
            return .uncertain
        case .failure(let error):
            // Not written. A retry stays in the store for the next look; a claimed fire goes back,
            // or, refused for good, is marked invalid with the reason.
            if work.isDetached { return .forget }
            if error.isTransient { return .giveBack(Self.claims(of: [work])) }
            return .markInvalid("its run could not be started: \(error.message)")
        }
    }

    /// The store answered an uncertain start (`key`, under `token`) again.
    @inlinable public mutating func uncertainStartAnswered(
        _ key: RunKey, token: ClaimToken, _ answer: Result<ConcurrentStart, StoreError>
    )
        -> Settlement
    {
        guard let index = uncertain.firstIndex(where: { $0.record.key == key && $0.record.token == token })
        else { return .forget }
        switch answer {
        case .failure(let error) where error.isTransient:
            return .keepAsking
        case .failure:
            // Refused for good: the first call was refused too, so it wrote nothing.
            uncertain.remove(at: index)
            return .forget
        case .success(let start):
            let settled = uncertain.remove(at: index)
            return start == .started || start == .alreadyStarted ? .endAsNotRun(settled) : .forget
        }
    }

    // MARK: Retries, overdue work, dropping and stopping

    /// Whether to read due retries now: only while claims may be made.
    @inlinable public func wantsRetries(_ executor: ExecutorMachine, now: Duration) -> Bool {
        executor.mayClaim(at: now)
    }

    /// Queues the retries read from the store that are not queued yet; true if any was.
    @discardableResult
    @inlinable public mutating func queueRetries(_ retries: [Work]) -> Bool {
        var queued = false
        for retry in retries {
            guard let key = retry.retrying, !queuedRetries.contains(key) else { continue }
            queuedRetries.insert(key)
            queue.insert(retry)
            queued = true
        }
        return queued
    }

    /// Of the work handed out and not started (`ready`), what has waited longer than
    /// `releaseAfter` for a thread goes back to the table; the rest stays.
    @inlinable public func overdue(_ ready: [Work], now: Duration) -> (keep: [Work], giveBack: [Claim]) {
        let cutoff = now - configured.releaseAfter
        var keep: [Work] = []
        var late: [Work] = []
        for item in ready {
            if item.due < cutoff && !item.isDetached { late.append(item) } else { keep.append(item) }
        }
        return (keep, Self.claims(of: late))
    }

    /// The executor fenced itself off (`.fence`) or lost its lease (`.abandon`): everything held
    /// here and in `ready` is dropped. Fenced, the claims are still this executor's and are kept
    /// to be released once the store answers; lost, they are void (others recovered them).
    @inlinable public mutating func dropHeldWork(
        ready: [Work], because action: ExecutorMachine.Action, executor: inout ExecutorMachine
    ) {
        let dropped = queue.removeAll() + ready
        queuedRetries.removeAll()
        heldEpoch += 1
        guard action == .fence else { return }
        for claim in Self.claims(of: dropped) { executor.keepForRelease(claim.token, ids: [claim.taskID]) }
    }

    /// The executor stops: the claims of everything queued here, to give back at once.
    @inlinable public mutating func stop() -> [Claim] {
        queuedRetries.removeAll()
        return Self.claims(of: queue.removeAll())
    }

    /// Whether `claim` is held by work queued here.
    @inlinable public func holds(_ claim: Claim) -> Bool {
        queue.items.contains { !$0.isDetached && $0.claim == claim }
    }
}

/// What the work machine (`WorkMachine`) is told of an executor's settings.
public struct WorkSettings: Sendable, Equatable {
    /// Most rows one claim takes.
    public var batch: Int
    /// Claimed-but-not-started work allowed beyond the free threads (when runs are quick).
    public var queueAllowance: Int
    /// How often the leader asks for due rows when there is nothing else to do.
    public var pollInterval: Duration
    /// Due work that waited this long for a free thread goes back to the table.
    public var releaseAfter: Duration

    public init(batch: Int, queueAllowance: Int, pollInterval: Duration, releaseAfter: Duration) {
        (self.batch, self.queueAllowance) = (batch, queueAllowance)
        (self.pollInterval, self.releaseAfter) = (pollInterval, releaseAfter)
    }
}

extension WorkMachine: Sendable where Work: Sendable {}
extension WorkMachine.Step: Sendable where Work: Sendable {}
extension WorkMachine.Outcome: Sendable where Work: Sendable {}
extension WorkMachine.UncertainStart: Sendable where Work: Sendable {}

extension AttemptEnd {
    /// How an attempt ended whose handler never ran: its start was not on record (`at_most_once`
    /// or a concurrent run), the executor stopped or fenced itself first, or someone killed it
    /// first. Both not-run cases run the fire again as its next attempt.
    public static func neverRan(startRecorded: Bool, cancelled: ExecutorMachine.CancelReason?) -> AttemptEnd {
        if !startRecorded { return .notRun("its start could not be recorded in time") }
        if cancelled == .executorStopping { return .notRun("the executor stopped before starting it") }
        return .killed
    }
}
