import Foundation
import SundialCore
import Testing

@Suite struct ExecutorMachineTests {
    let settings = ExecutorMachine.Settings(lease: .seconds(10), shutdownGrace: .seconds(30))
    let key = RunKey(task: 1, scheduled: Date(timeIntervalSince1970: 0), attempt: 0)
    let claim = Claim(taskID: 1, token: ClaimToken(9))

    @Test func itFencesItselfAtSeventyPercentOfTheLeaseAndCancelsItsRuns() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        _ = m.runStarted(key, claim: claim, deadline: nil, now: .zero)
        #expect(m.tick(now: .seconds(6.9)).isEmpty)
        #expect(m.mayClaim)
        #expect(m.tick(now: .seconds(7)) == [.fence])
        #expect(!m.mayClaim)
        #expect(m.running[key]?.cancelled == .executorStopping)
        #expect(m.leaseLeft(at: .seconds(7)) == .zero)
        // Only once.
        #expect(m.tick(now: .seconds(8)).isEmpty)
    }

    @Test func aRenewalCountsFromWhenItWasSent() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        _ = m.tick(now: .seconds(7))
        #expect(m.fenced)
        // Sent at 1 s, answered at 9 s: it was stuck for most of the lease; the fence stays.
        _ = m.renewalAnswered(.renewed, sentAt: .seconds(1), now: .seconds(9))
        #expect(m.fenced)
        // A quick one lifts it.
        _ = m.renewalAnswered(.renewed, sentAt: .seconds(9), now: .seconds(9.1))
        #expect(!m.fenced)
        #expect(m.leaseLeft(at: .seconds(10)) == .seconds(9))
    }

    @Test func aLostLeaseAbandonsEverythingAndForgetsKeptReleases() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        _ = m.runStarted(key, claim: claim, deadline: nil, now: .zero)
        m.keepForRelease(ClaimToken(5), ids: [1])
        #expect(m.renewalAnswered(.lost, sentAt: .seconds(1), now: .seconds(1)) == [.abandon])
        #expect(m.running[key]?.cancelled == .executorStopping)
        #expect(m.unreleased.isEmpty)
        // Nothing is claimed until it is registered again.
        #expect(!m.mayClaim)
        _ = m.renewalAnswered(.renewed, sentAt: .seconds(2), now: .seconds(2))
        #expect(!m.mayClaim)
        m.registered(sentAt: .seconds(3), now: .seconds(3))
        #expect(m.mayClaim)
    }

    @Test func timeoutsAndKillRequestsCancelOnce() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        _ = m.runStarted(key, claim: claim, deadline: .seconds(2), now: .zero)
        #expect(m.killRequested([key]) == [.cancel(key, .killRequested)])
        #expect(m.killRequested([key]).isEmpty)
        #expect(m.tick(now: .seconds(3)).isEmpty, "already cancelled: the kill is what it ends by")
        let other = RunKey(task: 2, scheduled: Date(timeIntervalSince1970: 0), attempt: 0)
        _ = m.runStarted(other, claim: Claim(taskID: 2, token: ClaimToken(9)), deadline: .seconds(4), now: .seconds(3))
        #expect(m.tick(now: .seconds(4)) == [.cancel(other, .timedOut)])
    }

    @Test func stopWaitsForRunsThenKillsThemAtTheEndOfTheGrace() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        _ = m.runStarted(key, claim: claim, deadline: nil, now: .zero)
        #expect(m.stop(now: .seconds(1)).isEmpty)
        #expect(!m.mayClaim && m.isStopping)
        // The lease is still renewed while stopping: running tasks hold it.
        _ = m.renewalAnswered(.renewed, sentAt: .seconds(29), now: .seconds(29))
        #expect(m.tick(now: .seconds(30)).isEmpty)
        #expect(m.tick(now: .seconds(31)) == [.cancel(key, .executorStopping)])
        #expect(m.runEnded(key) == [.finishStop])
        #expect(m.phase == .stopped)
    }

    @Test func aStopWithNothingRunningFinishesAtOnce() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        #expect(m.stop(now: .seconds(1)) == [.finishStop])
        #expect(m.stop(now: .seconds(2)).isEmpty)
    }

    @Test func releasesKeptByTokenMerge() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        m.keepForRelease(ClaimToken(5), ids: [1])
        m.keepForRelease(ClaimToken(5), ids: [2])
        #expect(m.unreleased[ClaimToken(5)] == .some([1, 2]))
        m.claimFailed(token: ClaimToken(6), StoreError(.outcomeUnknown, "lost"))
        m.claimFailed(token: ClaimToken(7), StoreError(.conflict, "deadlock"))
        #expect(m.unreleased[ClaimToken(6)] == .some(nil))
        #expect(m.unreleased[ClaimToken(7)] == nil)
        m.keepForRelease(ClaimToken(5), ids: nil)
        #expect(m.unreleased[ClaimToken(5)] == .some(nil))
        m.released(ClaimToken(5))
        #expect(m.unreleased[ClaimToken(5)] == nil)
    }

    @Test func aRunStartedWhileFencedIsCancelledAtOnce() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        _ = m.tick(now: .seconds(8))
        #expect(m.runStarted(key, claim: claim, deadline: nil, now: .seconds(8)) == [.cancel(key, .executorStopping)])
    }

    /// A thread that resumes from a pause longer than the lease may look before the watchdog has
    /// fenced: the lease's age decides, not the fence flag.
    @Test func nothingStartsOnALapsedLeaseBeforeTheWatchdogLooks() {
        var m = ExecutorMachine(settings: settings, now: .zero)
        #expect(m.mayStart(at: .seconds(6.9)))
        #expect(!m.fenced)
        #expect(!m.mayStart(at: .seconds(7)))
        #expect(!m.mayClaim(at: .seconds(20)))
        #expect(m.runStarted(key, claim: claim, deadline: nil, now: .seconds(20)) == [.cancel(key, .executorStopping)])
        // Renewed: it may start again.
        _ = m.renewalAnswered(.renewed, sentAt: .seconds(20), now: .seconds(20.1))
        #expect(m.mayStart(at: .seconds(21)))
    }
}
