import Foundation
import Synchronization

/// The in-memory store's clock: the wall clock, or one a test or the simulator drives.
public final class StoreClock: Sendable {
    private let manualTime: Mutex<Date>
    private let isManual: Bool

    /// The system's wall clock.
    public static var system: StoreClock { StoreClock(start: nil) }

    /// A clock that stands still until `advance` or `set` moves it.
    public static func manual(at start: Date = Date(timeIntervalSince1970: 1_800_000_000)) -> StoreClock {
        StoreClock(start: start)
    }

    private init(start: Date?) {
        manualTime = Mutex(start ?? Date(timeIntervalSince1970: 0))
        isManual = start != nil
    }

    public var now: Date { isManual ? manualTime.withLock { $0 } : Date() }

    /// Moves a manual clock on (a system clock cannot be moved).
    public func advance(by seconds: TimeInterval) {
        manualTime.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// Sets a manual clock, even backwards (a database clock step).
    public func set(_ date: Date) {
        manualTime.withLock { $0 = date }
    }
}
