/// An executor's state as health probes see it, read from memory (never from the store), so a
/// probe answers at once whatever the database does.
public struct ExecutorHealth: Sendable, Equatable {
    /// Lease time left as this executor counts it (zero when fenced off).
    public var leaseRemaining: Duration
    /// Fenced off: its lease may have run out, it claims and starts nothing.
    public var fenced: Bool
    /// Registered in the executor registry (false after its lease was lost, until it registers again).
    public var registered: Bool
    /// Shutting down (SIGTERM): finishing its runs, taking no more.
    public var stopping: Bool
    /// Since the store last answered the lease thread (nil: never yet).
    public var sinceStoreAnswered: Duration?
    /// The lease it renews.
    public var lease: Duration
    /// How long run results have failed to reach the store, if they have.
    public var resultsStalledFor: Duration?

    public init(
        leaseRemaining: Duration, fenced: Bool, registered: Bool, stopping: Bool, sinceStoreAnswered: Duration?,
        lease: Duration, resultsStalledFor: Duration?
    ) {
        (self.leaseRemaining, self.fenced, self.registered, self.stopping) = (
            leaseRemaining, fenced, registered, stopping
        )
        (self.sinceStoreAnswered, self.lease, self.resultsStalledFor) = (sinceStoreAnswered, lease, resultsStalledFor)
    }
}
