import Foundation
import SundialActions
import SundialCore
import Testing

@testable import SundialExecutor

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

@Suite struct DatabaseClockTests {
    /// A database clock `skew` seconds ahead of this process's wall clock, read with round trips of
    /// varying length: the instant a fire is due must never come before the database reaches it.
    @Test func aFireIsNeverDueBeforeTheDatabaseReachesItsTime() {
        let clock = DatabaseClock()
        let skew = 37.25
        let reference = ContinuousClock.now
        let wallReference = Date()
        func database(at instant: ContinuousClock.Instant) -> Date {
            wallReference.addingTimeInterval((instant - reference).timeInterval + skew)
        }
        var generator = SystemRandomNumberGenerator()
        for i in 0..<200 {
            let sent = reference + .milliseconds(i * 10)
            let trip = Double.random(in: 0.000_05...0.02, using: &generator)
            let evaluated = sent + .microseconds(Int64(trip * 1_000_000 * Double.random(in: 0...1, using: &generator)))
            let received = sent + .microseconds(Int64(trip * 1_000_000))
            clock.observe(databaseNow: database(at: evaluated), sent: sent, received: received)
            let fire = database(at: received).addingTimeInterval(0.3)
            let due = clock.instant(whenDatabaseReaches: fire)!
            #expect(database(at: due) >= fire.addingTimeInterval(-0.000_001), "due early")
            // And late by no more than the quickest round trip seen so far (20 ms at worst).
            #expect(database(at: due) <= fire.addingTimeInterval(0.021))
        }
    }

    @Test func anAgedQuickReadingGivesWayToAQuickOneNotToASlowOne() {
        let clock = DatabaseClock()
        let reference = ContinuousClock.now
        let wall = Date()
        // The database evaluates NOW(6) as the query arrives: a slow answer makes a loose bound.
        func observe(at seconds: Double, roundTrip: Double) {
            let sent = reference + .seconds(seconds)
            clock.observe(
                databaseNow: wall.addingTimeInterval(seconds), sent: sent, received: sent + .seconds(roundTrip))
        }
        let fire = wall.addingTimeInterval(40)
        observe(at: 0, roundTrip: 0.000_5)
        let quick = clock.instant(whenDatabaseReaches: fire)!
        // Past the reading's lifetime, a claim's slow reading (40 ms) would start fires 40 ms late.
        observe(at: 31, roundTrip: 0.04)
        #expect(clock.instant(whenDatabaseReaches: fire)! == quick)
        observe(at: 31.5, roundTrip: 0.000_6)
        let fresh = clock.instant(whenDatabaseReaches: fire)!
        #expect(fresh > quick && fresh - quick < .milliseconds(1))
    }

    @Test func theDatabasesTimeForRecordsIsNotPushedAheadByASlowReading() {
        let clock = DatabaseClock()
        let sent = ContinuousClock.now
        let wall = Date()
        clock.observe(databaseNow: wall, sent: sent, received: sent + .microseconds(400))
        // Claims' readings: NOW(6) read at the end of ever longer transactions, each within twice
        // the one before (a bar that moved with each would end at the last, 200 ms).
        for roundTrip in [0.000_8, 0.001_6, 0.003_2, 0.006_4, 0.012_8, 0.025_6, 0.051_2, 0.102_4, 0.2] {
            clock.observe(
                databaseNow: wall.addingTimeInterval(roundTrip), sent: sent,
                received: sent + .microseconds(Int64(roundTrip * 1e6)))
        }
        #expect(abs(clock.now.timeIntervalSince(Date())) < 0.01)
    }

    /// The time written into records is the database's reading plus monotonic time since: a
    /// database five minutes ahead of this host stays five minutes ahead.
    @Test func theDatabasesTimeIsTheReadingPlusMonotonicTimeSinceIt() {
        let clock = DatabaseClock()
        let sent = ContinuousClock.now
        let database = Date().addingTimeInterval(300)
        clock.observe(databaseNow: database, sent: sent, received: sent + .microseconds(200))
        let elapsed = (ContinuousClock.now - sent).timeInterval
        #expect(abs(clock.now.timeIntervalSince(database) - elapsed) < 0.01)
    }

    @Test func noReadingNoInstant() {
        #expect(DatabaseClock().instant(whenDatabaseReaches: Date()) == nil)
    }
}

@Suite struct IdleQueueTests {
    @Test func itemsComeOutInDueOrderAndOnlyWhenDue() {
        var queue = IdleQueue()
        let start = ContinuousClock.now
        let offsets = (0..<500).map { _ in Int.random(in: 0...10_000) }
        for (i, offset) in offsets.enumerated() {
            queue.insert(
                WorkItem(
                    row: TaskRow(id: Int64(i), name: "t\(i)", action: "noop"), token: ClaimToken(1),
                    definition: .failure(InvalidTask(message: "")),
                    due: start + .microseconds(Int64(offset)), fireAt: Date(), attempt: 0, isDetached: false))
        }
        let half = start + .microseconds(5_000)
        let early = queue.popDue(half, limit: .max)
        #expect(early.count == offsets.filter { $0 <= 5_000 }.count)
        #expect(early.map(\.due) == early.map(\.due).sorted())
        #expect(queue.earliest.map { $0 > half } ?? true)
        let rest = queue.removeAll()
        #expect(early.count + rest.count == 500)
        #expect(Set((early + rest).map(\.row.id)).count == 500)
    }

    @Test func workClaimedWellAheadComesOutForALastLookBeforeItsStart() {
        var queue = IdleQueue()
        let start = ContinuousClock.now
        let due = start + .seconds(1)
        func item(_ id: Int64, claimed: ContinuousClock.Instant, detached: Bool = false) -> WorkItem {
            WorkItem(
                row: TaskRow(id: id, name: "t\(id)", action: "noop"), token: ClaimToken(1),
                definition: .failure(InvalidTask(message: "")), due: due, fireAt: Date(), attempt: 0,
                isDetached: detached, confirmedAt: claimed)
        }
        queue.insert(item(1, claimed: start))
        queue.insert(item(2, claimed: due - .milliseconds(10)))
        queue.insert(item(3, claimed: start, detached: true))
        let looked = queue.popDue(due - Executor.lastLook, limit: .max)
        #expect(looked.map(\.row.id) == [1])
        #expect(looked.allSatisfy { $0.needsLastLook })
        // Once looked at, it comes out at its start, with the others.
        queue.insert(looked[0].confirmed(at: due - Executor.lastLook))
        #expect(queue.popDue(due - .milliseconds(1), limit: .max).isEmpty)
        #expect(Set(queue.popDue(due, limit: .max).map(\.row.id)) == [1, 2, 3])
    }
}
