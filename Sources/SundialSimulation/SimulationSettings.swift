/// How a simulation is set up: sizes, durations and fault rates. Every seed uses the same
/// settings; the seed picks the tasks, the timing and the faults.
public struct SimulationSettings: Sendable {
    /// Executors running at once (each crash or stop is followed by a fresh one).
    public var executors = 3
    public var threadsPerExecutor = 3
    /// Seconds of load with faults, then of quiet (no faults), before every executor is stopped.
    public var faultySeconds = 40.0
    public var quietSeconds = 45.0
    /// The virtual clock's step.
    public var step: Duration = .milliseconds(10)
    public var lease: Duration = .seconds(10)
    public var heartbeat: Duration = .seconds(1)
    public var pollInterval: Duration = .milliseconds(200)
    public var shutdownGrace: Duration = .seconds(5)
    /// Per store call: the chance of each fault kind.
    public var storeFaultRate = 0.02
    /// Per store call that MySQL makes in a transaction: the executor's link to the database is
    /// cut in the middle of it, with the transaction's row locks held (a partition, see
    /// `partitionRate`, that began at the worst moment).
    public var cutOffInTransactionRate = 0.002
    /// How long the server keeps a transaction whose client went silent before it rolls it back
    /// (the MySQL store's `idle_transaction_timeout`); nil: never (until the seed ends).
    public var idleTransactionTimeout: Double? = 3
    /// Per store call of a leader, lease or recorder thread, or of a pool thread's concurrent
    /// start: its answer comes late (see `World.slowCallDelay`).
    public var slowCallRate = 0.01
    /// Per executor and second of faulty time: crash, SIGTERM, freeze past the lease, partition.
    public var crashRate = 0.01
    public var stopRate = 0.01
    public var freezeRate = 0.005
    public var partitionRate = 0.005
    /// Per second: an edit from outside (pause, resume, delete, run now, kill, new schedule).
    public var editRate = 0.05
    /// Per second: a step of the database's clock (up to 15 % of the lease either way).
    public var clockStepRate = 0.01

    public init() {}
}
