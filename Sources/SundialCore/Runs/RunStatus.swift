/// How far an attempt got (`cron_run.status`). Every attempt ends in one of the final ones.
public enum RunStatus: String, Sendable, CaseIterable, Codable {
    case running
    case succeeded
    case failed
    case timedOut = "timed_out"
    case killed
    /// Its executor died or lost its lease while it ran; recovery ended it.
    case lost

    public var isFinal: Bool { self != .running }
}
