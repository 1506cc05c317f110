import Foundation
import SundialCore

/// How failed logins slow down further tries, per user name and per address: after a few
/// failures within the window, each new try must wait twice as long as the last since the last
/// failure, up to a cap. A pure rule over the audit log's counts.
public struct LoginThrottle: Sendable, Equatable {
    /// Failures allowed without waiting.
    public var freeFailures = 5
    /// Failures are counted over this window.
    public var window: Duration = .seconds(900)
    /// The first wait, doubled with each further failure.
    public var firstWait: Duration = .seconds(1)
    public var longestWait: Duration = .seconds(300)

    public init() {}

    /// How long until a try is allowed (zero: now), given the recent failures.
    public func wait(after failures: FailedLogins) -> Duration {
        guard failures.count >= freeFailures, let last = failures.last else { return .zero }
        let doublings = min(failures.count - freeFailures, 20)
        let wait = min(firstWait.timeInterval * pow(2, Double(doublings)), longestWait.timeInterval)
        let left = last.addingTimeInterval(wait).timeIntervalSince(failures.now)
        return left > 0 ? .milliseconds(Int64((left * 1000).rounded(.up))) : .zero
    }
}
