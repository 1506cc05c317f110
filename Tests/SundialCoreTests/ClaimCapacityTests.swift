import Testing

@testable import SundialCore

@Suite struct ClaimCapacityTests {
    func held(_ durations: [Double?]) -> HeldWork {
        var held = HeldWork()
        durations.forEach { held.add(lastDuration: $0) }
        return held
    }

    func capacity(recentRuns seconds: Double?) -> ClaimCapacity {
        var capacity = ClaimCapacity()
        if let seconds { for _ in 0..<50 { capacity.observeRun(seconds: seconds) } }
        return capacity
    }

    @Test func fastRowsLetAnExecutorHoldASecondsWorthAhead() {
        let fast = held(Array(repeating: 0.000_02, count: 1_500))
        #expect(
            capacity(recentRuns: 0.000_02).limit(batch: 100, idleThreads: 8, allowance: 32, pending: 1_500, held: fast)
                == 100)
        #expect(ClaimCapacity.burst(idleThreads: 8, held: fast) == ClaimCapacity.maximumBurst)
    }

    @Test func slowRowsHoldNoMoreThanFreeThreadsAndTheAllowance() {
        let slow = held(Array(repeating: 30, count: 10))
        #expect(ClaimCapacity.burst(idleThreads: 8, held: slow) == 0)
        let quick = capacity(recentRuns: 0.001)
        #expect(quick.limit(batch: 100, idleThreads: 8, allowance: 32, pending: 10, held: slow) == 30)
        #expect(quick.limit(batch: 100, idleThreads: 8, allowance: 32, pending: 40, held: slow) == 0)
    }

    @Test func theAllowanceWaitsUntilRecentRunsWereQuick() {
        // A fresh executor, or one whose runs are slow, claims no more than its free threads, so
        // that slow jobs due together spread over the executors.
        for recent in [nil, 30.0] {
            #expect(
                capacity(recentRuns: recent).limit(
                    batch: 100, idleThreads: 8, allowance: 32, pending: 0, held: held([])) == 8)
        }
        // Quick runs: as many as the free threads start within the budget, up to the batch.
        #expect(
            capacity(recentRuns: 0.002).limit(batch: 100, idleThreads: 8, allowance: 32, pending: 0, held: held([]))
                == 100)
        #expect(
            capacity(recentRuns: 0.05).limit(batch: 100, idleThreads: 8, allowance: 32, pending: 0, held: held([]))
                == 8 + 32 + 16)
    }

    @Test func rowsThatNeverRanEarnNoBurstAndCountAsAWholeThreadEach() {
        #expect(ClaimCapacity.burst(idleThreads: 8, held: held([nil, nil, nil])) == 0)
        #expect(ClaimCapacity.burst(idleThreads: 8, held: held([])) == 0)
        // Eight unknown rows use up eight threads' budget, whatever the fast ones beside them.
        #expect(ClaimCapacity.burst(idleThreads: 8, held: held(Array(repeating: nil, count: 8) + [0.001])) == 0)
        #expect(ClaimCapacity.burst(idleThreads: 8, held: held([nil, 0.001])) > 500)
    }

    @Test func busyThreadsMakeNoRoomForMoreEvenWhenRowsAreFast() {
        let fast = held(Array(repeating: 0.000_02, count: 32))
        #expect(ClaimCapacity.burst(idleThreads: 0, held: fast) == 0)
        #expect(
            capacity(recentRuns: 0.000_02).limit(batch: 100, idleThreads: 0, allowance: 32, pending: 32, held: fast)
                == 0)
    }

    @Test func heldWorkAddsAndRemovesBackToNothing() {
        var work = held([0.5, nil, 0.25])
        work.remove(lastDuration: 0.5)
        work.remove(lastDuration: nil)
        #expect(work == HeldWork(count: 1, knownCount: 1, knownSeconds: 0.25))
        work.remove(lastDuration: 0.25)
        #expect(work == HeldWork())
    }

    @Test func noClaimStartsWhenHeldWorkFallsDueBeforeItWouldReturn() {
        var capacity = ClaimCapacity()
        for _ in 0..<20 { capacity.observeClaim(seconds: 0.004) }
        #expect(capacity.mayClaim(untilDue: nil))
        #expect(capacity.mayClaim(untilDue: 0.5))
        #expect(!capacity.mayClaim(untilDue: 0.005))
    }
}
