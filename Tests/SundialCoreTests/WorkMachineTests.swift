import Foundation
import Testing

@testable import SundialCore

/// A fire in hand, as the work machine sees it.
struct Fire: SettableQueuedWork, Equatable {
    var id: Int64
    var token = ClaimToken(1)
    var due: Duration
    var confirmedAt: Duration
    var isConcurrent = false
    var isDetached = false
    var retrying: RunKey?
    var lastDuration: Double?

    init(
        _ id: Int64, due: Duration, confirmedAt: Duration? = nil, concurrent: Bool = false, retrying: RunKey? = nil,
        token: ClaimToken = ClaimToken(1)
    ) {
        (self.id, self.due, self.confirmedAt, self.token) = (id, due, confirmedAt ?? due, token)
        self.isConcurrent = concurrent || retrying != nil
        self.isDetached = retrying != nil
        self.retrying = retrying
    }

    var claim: Claim { Claim(taskID: id, token: token) }
}

@Suite struct WorkQueueTests {
    @Test func itemsComeOutInDueOrderAndOnlyWhenDue() {
        var queue = WorkQueue<Fire>()
        let offsets = (0..<500).map { _ in Int64.random(in: 0...10_000) }
        for (i, offset) in offsets.enumerated() { queue.insert(Fire(Int64(i), due: .microseconds(offset))) }
        let half = Duration.microseconds(5_000)
        let early = queue.popDue(half)
        #expect(early.count == offsets.filter { $0 <= 5_000 }.count)
        #expect(early.map(\.due) == early.map(\.due).sorted())
        #expect(queue.earliest.map { $0 > half } ?? true)
        let rest = queue.removeAll()
        #expect(early.count + rest.count == 500)
        #expect(Set((early + rest).map(\.id)).count == 500)
        #expect(queue.held == HeldWork())
    }

    @Test func workClaimedWellAheadComesOutForALastLookBeforeItsStart() {
        var queue = WorkQueue<Fire>()
        let due = Duration.seconds(1)
        queue.insert(Fire(1, due: due, confirmedAt: .zero))
        queue.insert(Fire(2, due: due, confirmedAt: due - .milliseconds(10)))
        queue.insert(Fire(3, due: due, confirmedAt: .zero, concurrent: true))
        let looked = queue.popDue(due - lastLookLead)
        #expect(looked.map(\.id) == [1])
        #expect(looked.allSatisfy { $0.needsLastLook })
        // Once looked at, it comes out at its start, with the others.
        queue.insert(looked[0].confirmed(at: due - lastLookLead))
        #expect(queue.popDue(due - .milliseconds(1)).isEmpty)
        #expect(Set(queue.popDue(due).map(\.id)) == [1, 2, 3])
    }
}

@Suite struct WorkMachineTests {
    typealias Machine = WorkMachine<Fire>
    let settings = WorkSettings(
        batch: 100, queueAllowance: 4, pollInterval: .milliseconds(200), releaseAfter: .seconds(2))
    let lease = ExecutorMachine.Settings(lease: .seconds(10), shutdownGrace: .seconds(5))

    func machines() -> (Machine, ExecutorMachine) {
        (Machine(settings: settings, now: .zero), ExecutorMachine(settings: lease, now: .zero))
    }

    func order(_ step: Machine.Step) -> Machine.ClaimOrder? {
        if case .claim(let order) = step { return order }
        return nil
    }

    func key(_ task: Int64) -> RunKey { RunKey(task: task, scheduled: Date(timeIntervalSince1970: 0), attempt: 0) }

    func record(_ task: Int64) -> RunRecord {
        RunRecord(
            taskID: task, token: ClaimToken(1), scheduledFor: Date(timeIntervalSince1970: 0), attempt: 0,
            executor: "e", startedAt: Date(timeIntervalSince1970: 0), status: .running, concurrent: true)
    }

    // MARK: The claim loop

    @Test func aFreeExecutorClaimsItsFreeThreadsAndLooksForUnscheduledRowsOncePerPoll() throws {
        var (work, executor) = machines()
        let first = try #require(order(work.lead(executor, now: .zero, idleThreads: 3, readyCount: 0)))
        #expect(first.limit == 3)
        #expect(first.includeUnscheduled)
        // A partial batch: the next claim waits a poll interval.
        let outcome = work.claimAnswered(
            .claimed([Fire(1, due: .zero)], unscheduled: 0), order: first, took: .milliseconds(1),
            executor: &executor, now: .milliseconds(1), jitter: 0.5)
        #expect(outcome.run.map(\.id) == [1])
        guard case .wait(let until, false) = work.lead(executor, now: .milliseconds(2), idleThreads: 2, readyCount: 0)
        else {
            Issue.record("expected a wait for the next poll")
            return
        }
        #expect(until == .milliseconds(201))
        let second = try #require(order(work.lead(executor, now: .milliseconds(201), idleThreads: 2, readyCount: 0)))
        #expect(second.includeUnscheduled)
        // Within the poll interval of the last look, no look for unscheduled rows.
        let third = try #require(
            order(
                {
                    _ = work.claimAnswered(
                        .claimed([Fire(2, due: .zero), Fire(3, due: .zero)], unscheduled: 0), order: second,
                        took: .zero, executor: &executor, now: .milliseconds(202), jitter: 0)
                    return work.lead(executor, now: .milliseconds(202), idleThreads: 2, readyCount: 0)
                }()))
        #expect(!third.includeUnscheduled)
    }

    @Test func rowsWithoutNextRunMakeEveryClaimLookForThem() throws {
        var (work, executor) = machines()
        let first = try #require(order(work.lead(executor, now: .zero, idleThreads: 2, readyCount: 0)))
        // A full batch, one of them unscheduled: ask again at once, and look again.
        _ = work.claimAnswered(
            .claimed([Fire(1, due: .zero), Fire(2, due: .zero)], unscheduled: 1), order: first, took: .zero,
            executor: &executor, now: .milliseconds(1), jitter: 0)
        let next = try #require(order(work.lead(executor, now: .milliseconds(1), idleThreads: 2, readyCount: 0)))
        #expect(next.includeUnscheduled)
    }

    @Test func aConflictIsTriedAgainWithinMillisecondsAndAFailureAfterAPoll() throws {
        var (work, executor) = machines()
        let first = try #require(order(work.lead(executor, now: .zero, idleThreads: 1, readyCount: 0)))
        _ = work.claimAnswered(.conflict, order: first, took: .zero, executor: &executor, now: .zero, jitter: 0)
        #expect(order(work.lead(executor, now: .microseconds(499), idleThreads: 1, readyCount: 0)) == nil)
        let soon = try #require(order(work.lead(executor, now: .microseconds(500), idleThreads: 1, readyCount: 0)))
        _ = work.claimAnswered(.conflict, order: soon, took: .zero, executor: &executor, now: .zero, jitter: 1)
        #expect(order(work.lead(executor, now: .microseconds(4_999), idleThreads: 1, readyCount: 0)) == nil)
        let again = try #require(order(work.lead(executor, now: .microseconds(5_000), idleThreads: 1, readyCount: 0)))
        let token = ClaimToken(77)
        _ = work.claimAnswered(
            .failed(token: token, StoreError(.outcomeUnknown, "lost")), order: again, took: .zero,
            executor: &executor, now: .milliseconds(5), jitter: 0)
        // A claim whose outcome is unknown is released by its token, and the next waits a poll.
        #expect(executor.unreleased[token] == .some(nil))
        #expect(order(work.lead(executor, now: .milliseconds(204), idleThreads: 1, readyCount: 0)) == nil)
        #expect(order(work.lead(executor, now: .milliseconds(205), idleThreads: 1, readyCount: 0)) != nil)
    }

    @Test func aClaimAnsweredAfterTheExecutorFencedItselfIsGivenBackNotRun() throws {
        var (work, executor) = machines()
        let claim = try #require(order(work.lead(executor, now: .zero, idleThreads: 2, readyCount: 0)))
        // The answer comes back after the lease went stale: the watchdog has not looked yet.
        let outcome = work.claimAnswered(
            .claimed([Fire(1, due: .seconds(8)), Fire(2, due: .seconds(9))], unscheduled: 0), order: claim,
            took: .seconds(8), executor: &executor, now: .seconds(8), jitter: 0)
        #expect(outcome.run.isEmpty)
        #expect(Set(outcome.giveBack.map(\.taskID)) == [1, 2])
        #expect(work.idle.count == 0)
    }

    @Test func aClaimAnsweredAfterHeldWorkWasDroppedIsGivenBack() throws {
        var (work, executor) = machines()
        let claim = try #require(order(work.lead(executor, now: .zero, idleThreads: 2, readyCount: 0)))
        work.dropHeldWork(ready: [], because: .abandon, executor: &executor)
        let outcome = work.claimAnswered(
            .claimed([Fire(1, due: .zero)], unscheduled: 0), order: claim, took: .zero, executor: &executor,
            now: .milliseconds(1), jitter: 0)
        #expect(outcome.run.isEmpty)
        #expect(outcome.giveBack.map(\.taskID) == [1])
    }

    @Test func workClaimedAheadIsLookedAtThenStartsOnItsTimeOrGoesBack() throws {
        var (work, executor) = machines()
        let claim = try #require(order(work.lead(executor, now: .zero, idleThreads: 2, readyCount: 0)))
        let outcome = work.claimAnswered(
            .claimed(
                [Fire(1, due: .seconds(1), confirmedAt: .zero), Fire(2, due: .seconds(1), confirmedAt: .zero)],
                unscheduled: 0),
            order: claim, took: .zero, executor: &executor, now: .zero, jitter: 0)
        #expect(outcome.run.isEmpty)
        guard
            case .look(let looking, let epoch) = work.lead(
                executor, now: .seconds(1) - lastLookLead, idleThreads: 2, readyCount: 0)
        else {
            Issue.record("expected a last look")
            return
        }
        #expect(Set(looking.map(\.id)) == [1, 2])
        let kept = looking.filter { $0.id == 1 }
        let dropped = looking.filter { $0.id == 2 }
        let looked = work.looked(
            kept: kept, dropped: dropped, epoch: epoch, executor: executor, sentAt: .seconds(1) - lastLookLead,
            now: .seconds(1) - .milliseconds(40))
        #expect(looked.run.isEmpty)
        #expect(looked.giveBack.map(\.taskID) == [2])
        guard case .run(let due) = work.lead(executor, now: .seconds(1), idleThreads: 2, readyCount: 0) else {
            Issue.record("expected the kept fire to start on its time")
            return
        }
        #expect(due.map(\.id) == [1])
    }

    /// A claim sent well before the fire's time whose answer comes after it (a slow statement, a
    /// lock wait): the database read the row when the claim was sent, so a pause made since is
    /// unseen. The fire gets its last look before it starts, not a start at once.
    @Test func aClaimAnsweredLateIsLookedAtBeforeItStarts() throws {
        var (work, executor) = machines()
        let claim = try #require(order(work.lead(executor, now: .zero, idleThreads: 2, readyCount: 0)))
        let outcome = work.claimAnswered(
            .claimed([Fire(1, due: .milliseconds(400), confirmedAt: .zero)], unscheduled: 0), order: claim,
            took: .milliseconds(480), executor: &executor, now: .milliseconds(480), jitter: 0)
        #expect(outcome.run.isEmpty)
        guard
            case .look(let looking, let epoch) = work.lead(
                executor, now: .milliseconds(480), idleThreads: 2, readyCount: 0)
        else {
            Issue.record("expected a last look first")
            return
        }
        #expect(looking.map(\.id) == [1])
        // A look sent after the fire's time is fresh enough: it starts on the answer.
        let looked = work.looked(
            kept: looking, dropped: [], epoch: epoch, executor: executor, sentAt: .milliseconds(480),
            now: .milliseconds(490))
        #expect(looked.run.map(\.id) == [1])
    }

    @Test func aLookAnsweredAfterAStopGivesEverythingBack() {
        var (work, executor) = machines()
        _ = executor.stop(now: .zero)
        let outcome = work.looked(
            kept: [Fire(1, due: .zero)], dropped: [Fire(2, due: .zero)], epoch: 0, executor: executor, sentAt: .zero,
            now: .zero)
        #expect(outcome.run.isEmpty)
        #expect(Set(outcome.giveBack.map(\.taskID)) == [1, 2])
        #expect(work.lead(executor, now: .zero, idleThreads: 1, readyCount: 0).isStop)
    }

    @Test func nothingIsClaimedWhileEveryThreadIsBusyAndTheLeaderAsksToBeWoken() {
        var (work, executor) = machines()
        guard case .wait(_, let forThreads) = work.lead(executor, now: .zero, idleThreads: 0, readyCount: 0) else {
            Issue.record("expected a wait")
            return
        }
        #expect(forThreads)
    }

    // MARK: Starts

    /// A task at its limit for as long as its runs last must not hold this executor's claims
    /// back: a claimed fire without room goes back to the store; retries wait here for room (a
    /// second at a time, each queued once), holding no claim, so free threads claim on.
    @Test func aConcurrentStartAtItsLimitDoesNotHoldClaimsBack() {
        var (work, executor) = machines()
        let retries = (1...3).map { Fire(Int64($0), due: .zero, retrying: key(Int64($0))) }
        let queued = work.queueRetries(retries)
        #expect(queued)
        guard case .run(let ready) = work.lead(executor, now: .zero, idleThreads: 3, readyCount: 0) else {
            Issue.record("expected the retries to be handed out")
            return
        }
        for retry in ready {
            work.starting(retry)
            let decision = work.concurrentStartAnswered(
                retry, .success(.noRoom), record: record(retry.id), moveOn: nil, executor: &executor, now: .zero)
            #expect(decision == .waitForRoom)
        }
        let fire = Fire(9, due: .zero, concurrent: true, token: ClaimToken(4))
        let claimed = work.concurrentStartAnswered(
            fire, .success(.noRoom), record: record(9), moveOn: nil, executor: &executor, now: .zero)
        #expect(claimed == .giveBack([fire.claim]))
        #expect(work.idle.count == 3)
        #expect(work.idle.earliest == .seconds(1))
        // Read again from the store while they wait here: not queued a second time.
        let queuedAgain = work.queueRetries([retries[0]])
        #expect(!queuedAgain)
        // The fire given back is claimable again, but not before the next poll (no claim, no
        // room, give back, in a loop); then free threads claim, whatever waits for room.
        let poll = settings.pollInterval
        guard case .wait(let until, _) = work.lead(executor, now: .zero, idleThreads: 3, readyCount: 0) else {
            Issue.record("expected to wait for the next poll")
            return
        }
        #expect(until == poll)
        guard case .claim(let order) = work.lead(executor, now: poll, idleThreads: 3, readyCount: 0) else {
            Issue.record("expected a claim")
            return
        }
        #expect(order.limit >= 3)
    }

    /// A retry without room goes back when the executor may no longer start anything.
    @Test func aRetryAtItsLimitIsForgottenWhenTheLeaseIsStale() {
        var (work, executor) = machines()
        let retry = Fire(1, due: .zero, retrying: key(1))
        let decision = work.concurrentStartAnswered(
            retry, .success(.noRoom), record: record(1), moveOn: nil, executor: &executor, now: .seconds(9))
        #expect(decision == .giveBack([]))
        #expect(work.idle.count == 0)
    }

    @Test func eachAnswerToAConcurrentStartHasItsDecision() {
        var (work, executor) = machines()
        let fire = Fire(1, due: .zero, concurrent: true, token: ClaimToken(5))
        let retry = Fire(2, due: .zero, retrying: key(2))
        func decide(_ work: inout Machine, _ fire: Fire, _ answer: Result<ConcurrentStart, StoreError>)
            -> Machine.StartDecision
        {
            work.concurrentStartAnswered(
                fire, answer, record: record(fire.id), moveOn: nil, executor: &executor, now: .zero)
        }
        let decision1 = decide(&work, fire, .success(.started))
        #expect(decision1 == .run)
        let decision2 = decide(&work, fire, .success(.alreadyStarted))
        #expect(decision2 == .run)
        let decision3 = decide(&work, fire, .success(.claimLost))
        #expect(decision3 == .giveBack([fire.claim]))
        let decision4 = decide(&work, retry, .success(.claimLost))
        #expect(decision4 == .giveBack([]))
        let decision5 = decide(&work, fire, .failure(StoreError(.unavailable, "down")))
        #expect(decision5 == .giveBack([fire.claim]))
        let decision6 = decide(&work, retry, .failure(StoreError(.rejected, "no")))
        #expect(decision6 == .forget)
        // Refused for good: the runtime and the simulator both mark the row invalid, never retry it for ever.
        let decision7 = decide(&work, fire, .failure(StoreError(.rejected, "bad row")))
        #expect(decision7 == .markInvalid("its run could not be started: bad row"))
        let decision8 = decide(&work, fire, .failure(StoreError(.outcomeUnknown, "lost")))
        #expect(decision8 == .uncertain)
        #expect(executor.unreleased[ClaimToken(5)] == .some([1]))
        #expect(work.uncertainStarts.map(\.record.key) == [record(1).key])
    }

    @Test func anUncertainStartIsAskedUntilTheStoreAnswersAndSettlesOnlyItself() {
        var (work, executor) = machines()
        // The same fire uncertain twice: claimed, lost, released, claimed again under another token.
        let first = Fire(1, due: .zero, concurrent: true, token: ClaimToken(1))
        let second = Fire(1, due: .zero, concurrent: true, token: ClaimToken(2))
        var secondRecord = record(1)
        secondRecord.token = ClaimToken(2)
        _ = work.concurrentStartAnswered(
            first, .failure(StoreError(.outcomeUnknown, "lost")), record: record(1), moveOn: nil, executor: &executor,
            now: .zero)
        _ = work.concurrentStartAnswered(
            second, .failure(StoreError(.outcomeUnknown, "lost")), record: secondRecord, moveOn: nil,
            executor: &executor, now: .zero)
        let key = record(1).key
        guard
            case .keepAsking = work.uncertainStartAnswered(
                key, token: ClaimToken(2), .failure(StoreError(.unavailable, "down")))
        else {
            Issue.record("a transient failure keeps asking")
            return
        }
        guard
            case .endAsNotRun(let start) = work.uncertainStartAnswered(
                key, token: ClaimToken(2), .success(.alreadyStarted))
        else {
            Issue.record("a start on record ends as not run")
            return
        }
        #expect(start.work == second)
        #expect(start.record.token == ClaimToken(2))
        // The first is still asked about, under its own token.
        #expect(work.uncertainStarts.map(\.record.token) == [ClaimToken(1)])
        guard case .forget = work.uncertainStartAnswered(key, token: ClaimToken(1), .success(.claimLost)) else {
            Issue.record("a start that was not written is forgotten")
            return
        }
        #expect(work.uncertainStarts.isEmpty)
    }

    @Test func aLookAnsweredAfterHeldWorkWasDroppedGivesItBack() {
        var (work, executor) = machines()
        work.dropHeldWork(ready: [], because: .fence, executor: &executor)
        let outcome = work.looked(
            kept: [Fire(1, due: .seconds(1))], dropped: [], epoch: 0, executor: executor, sentAt: .zero, now: .zero)
        #expect(outcome.run.isEmpty)
        #expect(outcome.giveBack.map(\.taskID) == [1])
        #expect(work.idle.count == 0)
    }

    @Test func dueWorkIsHandedOutBeforeALastLookFallingDueWithIt() throws {
        var (work, executor) = machines()
        _ = work.claimAnswered(
            .claimed(
                [Fire(1, due: .seconds(1), confirmedAt: .zero), Fire(2, due: .seconds(1) - lastLookLead)],
                unscheduled: 0),
            order: .init(limit: 5, includeUnscheduled: false, epoch: 0), took: .zero, executor: &executor, now: .zero,
            jitter: 0)
        guard case .run(let ready) = work.lead(executor, now: .seconds(1) - lastLookLead, idleThreads: 2, readyCount: 0)
        else {
            Issue.record("expected the due fire first")
            return
        }
        #expect(ready.map(\.id) == [2])
        guard
            case .look(let looking, _) = work.lead(
                executor, now: .seconds(1) - lastLookLead, idleThreads: 1, readyCount: 1)
        else {
            Issue.record("expected the look next")
            return
        }
        #expect(looking.map(\.id) == [1])
    }

    // MARK: Dropping, overdue work, stopping

    @Test func fencedWorkIsKeptForReleaseAndLostWorkIsDropped() {
        var (work, executor) = machines()
        work.queueRetries([Fire(9, due: .seconds(5), retrying: key(9))])
        _ = work.claimAnswered(
            .claimed([Fire(1, due: .seconds(5))], unscheduled: 0),
            order: .init(limit: 5, includeUnscheduled: false, epoch: 0), took: .zero, executor: &executor, now: .zero,
            jitter: 0)
        work.dropHeldWork(ready: [Fire(2, due: .zero)], because: .fence, executor: &executor)
        #expect(work.epoch == 1)
        #expect(work.idle.count == 0)
        #expect(executor.unreleased[ClaimToken(1)] == .some([1, 2]))
        // The retry can be queued again once the executor claims again.
        let requeued = work.queueRetries([Fire(9, due: .seconds(5), retrying: key(9))])
        #expect(requeued)
        var (lost, lostExecutor) = machines()
        _ = lost.claimAnswered(
            .claimed([Fire(1, due: .seconds(5))], unscheduled: 0),
            order: .init(limit: 5, includeUnscheduled: false, epoch: 0), took: .zero, executor: &lostExecutor,
            now: .zero, jitter: 0)
        lost.dropHeldWork(ready: [], because: .abandon, executor: &lostExecutor)
        #expect(lostExecutor.unreleased.isEmpty)
    }

    @Test func onlyClaimedWorkThatWaitedPastReleaseAfterGoesBack() {
        let (work, _) = machines()
        let ready = [
            Fire(1, due: .zero), Fire(2, due: .seconds(2)), Fire(3, due: .zero, retrying: key(3)),
        ]
        let (keep, late) = work.overdue(ready, now: .seconds(2) + .milliseconds(1))
        #expect(late.map(\.taskID) == [1])
        #expect(keep.map(\.id) == [2, 3])
    }

    @Test func aStopGivesBackEverythingQueued() {
        var (work, executor) = machines()
        _ = work.claimAnswered(
            .claimed([Fire(1, due: .seconds(5)), Fire(2, due: .seconds(6))], unscheduled: 0),
            order: .init(limit: 5, includeUnscheduled: false, epoch: 0), took: .zero, executor: &executor, now: .zero,
            jitter: 0)
        #expect(work.holds(Claim(taskID: 1, token: ClaimToken(1))))
        let given = work.stop()
        #expect(Set(given.map(\.taskID)) == [1, 2])
        #expect(!work.holds(Claim(taskID: 1, token: ClaimToken(1))))
    }

    @Test func anAttemptThatNeverRanSaysWhy() {
        #expect(
            AttemptEnd.neverRan(startRecorded: false, cancelled: nil)
                == .notRun("its start could not be recorded in time"))
        #expect(
            AttemptEnd.neverRan(startRecorded: true, cancelled: .executorStopping)
                == .notRun("the executor stopped before starting it"))
        #expect(AttemptEnd.neverRan(startRecorded: true, cancelled: .killRequested) == .killed)
    }
}

extension WorkMachine.Step {
    fileprivate var isStop: Bool {
        if case .stop = self { return true }
        return false
    }
}
