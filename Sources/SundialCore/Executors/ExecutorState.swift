/// An executor's state in its registry row (`cron_executor.state`).
public enum ExecutorState: String, Sendable, CaseIterable, Codable {
    case running
    /// Draining after SIGTERM: claims nothing, its running tasks still hold its lease.
    case stopping
    /// Stopped cleanly: it holds nothing.
    case stopped
    /// Its lease ran out and another executor recovered its work.
    case dead
}
