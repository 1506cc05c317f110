import Foundation
import Synchronization

/// The database's clock as seen from this process: the offset between `NOW(6)` and the local
/// clock, measured on every heartbeat and claim. Executors' own clocks may be wrong by minutes.
final class DatabaseClock: Sendable {
    private let offset = Mutex<Double>(0)

    /// Records a reading of `NOW(6)` taken between `sent` and `received` (local times).
    func observe(databaseNow: Date, sent: Date, received: Date) {
        let midpoint = sent.addingTimeInterval(received.timeIntervalSince(sent) / 2)
        offset.withLock { $0 = databaseNow.timeIntervalSince(midpoint) }
    }

    /// The database's time now, estimated.
    var now: Date { Date().addingTimeInterval(offset.withLock { $0 }) }
}
