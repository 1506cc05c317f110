import Foundation

/// Identifies one attempt: the unique key of `cron_run` (task, scheduled time, attempt).
public struct RunKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var task: Int64
    public var scheduled: Date
    public var attempt: Int

    public init(task: Int64, scheduled: Date, attempt: Int) {
        (self.task, self.scheduled, self.attempt) = (task, scheduled, attempt)
    }

    public static func < (a: RunKey, b: RunKey) -> Bool {
        (a.task, a.scheduled, a.attempt) < (b.task, b.scheduled, b.attempt)
    }

    public var description: String { "task \(task) @\(scheduled.timeIntervalSince1970) #\(attempt)" }
}
