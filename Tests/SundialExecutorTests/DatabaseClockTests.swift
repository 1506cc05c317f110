import Foundation
import SundialActions
import SundialCore
import Testing

@testable import SundialExecutor

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
