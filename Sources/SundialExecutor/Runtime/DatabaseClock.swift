import Foundation
import Synchronization

/// The database's clock as seen from this process, measured on every claim and heartbeat.
/// Executors' own wall clocks may be wrong by minutes; only the database's counts.
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
    /// The round trip and time of the reading `wallOffset` came from.
    private let wallReading = Mutex<(roundTrip: Double, taken: ContinuousClock.Instant)?>(nil)
    /// The latest midpoint estimate of (database time − local wall time), as a `Double` bit
    /// pattern, read without a lock by every run.
    private let wallOffset = Atomic<UInt64>(Double(0).bitPattern)

    /// Records `NOW(6)` = `databaseNow`, asked at `sent` and answered at `received`.
    func observe(
        databaseNow: Date, sent: ContinuousClock.Instant, received: ContinuousClock.Instant,
        wallSent: Date, wallReceived: Date
    ) {
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
        let takeWall = wallReading.withLock { reading in
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
        guard takeWall else { return }
        let wallMidpoint = wallSent.addingTimeInterval(wallReceived.timeIntervalSince(wallSent) / 2)
        wallOffset.store(databaseNow.timeIntervalSince(wallMidpoint).bitPattern, ordering: .relaxed)
    }

    /// The earliest local instant at which the database's clock has certainly reached `time`.
    /// Nil before the first reading.
    func instant(whenDatabaseReaches time: Date) -> ContinuousClock.Instant? {
        guard let bound = best.withLock({ $0?.bound }) else { return nil }
        let seconds = bound + time.timeIntervalSinceReferenceDate
        return origin + .microseconds(Int64((seconds * 1_000_000).rounded(.up)))
    }

    /// The database's time now, estimated from the latest reading (for timestamps in records).
    var now: Date {
        Date().addingTimeInterval(Double(bitPattern: wallOffset.load(ordering: .relaxed)))
    }
}
