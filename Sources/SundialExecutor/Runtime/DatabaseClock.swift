import Foundation
import Synchronization

/// The database's clock as seen from this process, measured on every claim and heartbeat.
/// Executors' own wall clocks may be wrong by minutes; only the database's counts.
///
/// Each reading of `NOW(6)` was taken somewhere between sending the query and receiving the
/// answer. So the local monotonic instant at which the database's clock shows some time `t` is at
/// most `received + (t - reading)`: the smallest such bound over recent readings (the one with the
/// quickest round trip) says when a fire due at `t` may start without ever starting early, late by
/// no more than that round trip. Readings expire, so that drift between the clocks cannot add up.
final class DatabaseClock: Sendable {
    struct Reading: Sendable {
        /// Local monotonic seconds when the answer had arrived, minus the database's time read.
        var bound: Double
        /// Midpoint estimate of (database time − local wall time), for timestamps in records.
        var wallOffset: Double
        var taken: ContinuousClock.Instant
    }

    /// How long a reading is trusted as a bound.
    static let readingLifetime: Duration = .seconds(30)

    private let origin = ContinuousClock.now
    private let readings = Mutex<[Reading]>([])
    /// The tightest bound and the latest offset, as `Double` bit patterns (NaN: none yet), read
    /// without a lock by every run.
    private let bound = Atomic<UInt64>(Double.nan.bitPattern)
    private let wallOffset = Atomic<UInt64>(Double(0).bitPattern)

    /// Records `NOW(6)` = `databaseNow`, asked at `sent` and answered at `received`.
    func observe(
        databaseNow: Date, sent: ContinuousClock.Instant, received: ContinuousClock.Instant,
        wallSent: Date, wallReceived: Date
    ) {
        let database = databaseNow.timeIntervalSinceReferenceDate
        let wallMidpoint = wallSent.addingTimeInterval(wallReceived.timeIntervalSince(wallSent) / 2)
        let reading = Reading(
            bound: (received - origin).timeInterval - database,
            wallOffset: databaseNow.timeIntervalSince(wallMidpoint), taken: received)
        readings.withLock { readings in
            readings.removeAll { received - $0.taken > Self.readingLifetime }
            readings.append(reading)
            bound.store(readings.map(\.bound).min()!.bitPattern, ordering: .relaxed)
            wallOffset.store(reading.wallOffset.bitPattern, ordering: .relaxed)
        }
    }

    /// The earliest local instant at which the database's clock has certainly reached `time`.
    /// Nil before the first reading.
    func instant(whenDatabaseReaches time: Date) -> ContinuousClock.Instant? {
        let bound = Double(bitPattern: bound.load(ordering: .relaxed))
        guard !bound.isNaN else { return nil }
        let seconds = bound + time.timeIntervalSinceReferenceDate
        return origin + .microseconds(Int64((seconds * 1_000_000).rounded(.up)))
    }

    /// The database's time now, estimated from the latest reading (for timestamps in records).
    var now: Date {
        Date().addingTimeInterval(Double(bitPattern: wallOffset.load(ordering: .relaxed)))
    }
}
