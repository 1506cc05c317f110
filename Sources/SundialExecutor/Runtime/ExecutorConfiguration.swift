import SundialCore

/// Everything an executor can be told; each setting has a default.
public struct ExecutorConfiguration: Sendable, Equatable {
    /// Name shown in `cron_executor` and `claimed_by` (a random suffix is added per process).
    public var name: String?
    /// Pool threads: how many tasks run at once.
    public var threads = 8
    /// Most rows one claim takes (when runs are quick: otherwise free threads and the allowance
    /// bound it). A claim costs the database a fixed price whatever its size, so a flood of quick
    /// one-shots is cheapest in big ones.
    public var batch = 500
    /// Claimed-but-not-started work allowed beyond the free threads.
    public var queueAllowance = 32
    /// How far ahead of `next_run` rows are claimed, so they start on the exact second.
    public var lookahead: Duration = .milliseconds(500)
    /// How often the leader asks the database for due rows when there is nothing else to do.
    public var pollInterval: Duration = .milliseconds(200)
    /// How often the heartbeat redispatcher runs.
    public var heartbeatInterval: Duration = .seconds(1)
    /// How long each renewal extends this executor's lease: past it, any executor may take its work over.
    public var lease: Duration = .seconds(10)
    /// Due work that waited this long for a free thread goes back to the table for others.
    public var releaseAfter: Duration = .seconds(2)
    /// On SIGTERM, running tasks get this long to finish before they are killed.
    public var shutdownGrace: Duration = .seconds(30)
    /// Executor tags for placement: a row with tags runs only on an executor with one of them.
    public var tags: [String] = []
    /// How much run history and how many stopped executors' rows to keep.
    public var retention = RetentionPolicy()
    /// Where alerts go: channels by name and the events each takes, the defaults, when a fire is
    /// missed, the deduplication window. Empty: no alerts are raised.
    public var alerting = AlertRouting()
    /// Delivered and given-up alerts are kept this long.
    public var alertRetention: Duration = .seconds(30 * 86_400)

    public init() {}

    /// What the executor's state machine needs of these settings.
    public var machineSettings: ExecutorMachine.Settings {
        ExecutorMachine.Settings(lease: lease, shutdownGrace: shutdownGrace)
    }

    /// What the work machine needs of these settings.
    public var workSettings: WorkSettings {
        WorkSettings(
            batch: batch, queueAllowance: queueAllowance, pollInterval: pollInterval, releaseAfter: releaseAfter)
    }
}
