import Foundation
import Synchronization

/// The database's clock as seen from this process, measured on every claim and heartbeat.
/// Executors' own wall clocks may be wrong by minutes, or stepped while they run; only the
/// database's counts, and the time between two readings is measured on the monotonic clock: the
/// host's wall clock is never read.
///
/// Each reading of `NOW(6)` was taken somewhere between sending the query and receiving the
/// answer. So the local monotonic instant at which the database's clock shows some time `t` is at
/// most `received + (t - reading)`: the smallest such bound (the reading with the quickest round
/// trip) says when a fire due at `t` may start without ever starting early, late by no more than
/// that round trip. The best reading is kept for a while only, so that drift between the clocks
/// cannot add up: an older one gives way to the latest.
final class DatabaseClock: Sendable {
    /// How long a reading is trusted as the bound.
    static let readingLifetime: Duration = .seconds(30)

    private let origin = ContinuousClock.now
    /// The best bound (local monotonic seconds when the answer had arrived, minus the database's
    /// time read) and when it was taken.
    private let best = Mutex<(bound: Double, taken: ContinuousClock.Instant, roundTrip: Double)?>(nil)
    /// The round trip and time of the reading `offset` came from.
    private let reading = Mutex<(roundTrip: Double, taken: ContinuousClock.Instant)?>(nil)
    /// The latest midpoint estimate of (database time − monotonic seconds since `origin`), as a
    /// `Double` bit pattern, read without a lock by every run. NaN before the first reading.
    private let offset = Atomic<UInt64>(Double.nan.bitPattern)

    /// Records `NOW(6)` = `databaseNow`, asked at `sent` and answered at `received`.
    func observe(databaseNow: Date, sent: ContinuousClock.Instant, received: ContinuousClock.Instant) {
        let bound = (received - origin).timeInterval - databaseNow.timeIntervalSinceReferenceDate
        let roundTrip = (received - sent).timeInterval
        best.withLock { best in
            if let current = best, current.bound <= bound {
                // A looser reading replaces an old best only if it is about as quick: a slow one
                // (a claim's, read in a transaction of many rows) would make fires start late.
                let age = received - current.taken
                let quickEnough = roundTrip <= max(2 * current.roundTrip, 0.002)
                if age <= Self.readingLifetime || (!quickEnough && age <= Self.readingLifetime * 3) { return }
            }
            best = (bound, received, roundTrip)
        }
        // The midpoint is as good as the round trip is short: a claim's reading, taken at the end
        // of a transaction, would put the estimate ahead by half the claim. A slow reading
        // replaces a quick one only once that has aged.
        let take = reading.withLock { reading in
            guard let current = reading, received - current.taken <= Self.readingLifetime else {
                reading = (roundTrip, received)
                return true
            }
            if roundTrip > max(2 * current.roundTrip, 0.002) { return false }
            // Measured against the quickest round trip of the lifetime, so slower readings cannot
            // raise the bar step by step.
            if roundTrip < current.roundTrip { reading = (roundTrip, received) }
            return true
        }
        guard take else { return }
        let midpoint = (sent - origin).timeInterval + roundTrip / 2
        offset.store((databaseNow.timeIntervalSince1970 - midpoint).bitPattern, ordering: .relaxed)
    }

    /// The earliest local instant at which the database's clock has certainly reached `time`.
    /// Nil before the first reading.
    func instant(whenDatabaseReaches time: Date) -> ContinuousClock.Instant? {
        guard let bound = best.withLock({ $0?.bound }) else { return nil }
        let seconds = bound + time.timeIntervalSinceReferenceDate
        return origin + .microseconds(Int64((seconds * 1_000_000).rounded(.up)))
    }

    /// The database's time now, estimated from the latest reading plus the monotonic time since
    /// it (for timestamps in records and the planner's decisions). Before any reading (the
    /// executor registers before it runs anything, so only in tests), the wall clock.
    var now: Date {
        let offset = Double(bitPattern: offset.load(ordering: .relaxed))
        guard !offset.isNaN else { return Date() }
        return Date(timeIntervalSince1970: offset + (ContinuousClock.now - origin).timeInterval)
    }
}
