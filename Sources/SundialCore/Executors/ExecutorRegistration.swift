import Foundation

/// What an executor tells the registry about itself when it starts.
public struct ExecutorRegistration: Sendable, Equatable {
    /// Unique per process: a restarted executor never mistakes its predecessor's claims for its own.
    public var id: String
    public var host: String
    public var pid: Int32
    public var threads: Int
    public var tags: [String]
    /// The actions it can run; claims and the console use them.
    public var actions: [String]

    public init(id: String, host: String, pid: Int32, threads: Int, tags: [String], actions: [String]) {
        (self.id, self.host, self.pid, self.threads, self.tags, self.actions) = (id, host, pid, threads, tags, actions)
    }
}

/// The answer to a lease renewal.
public enum LeaseRenewal: Sendable, Equatable {
    /// Renewed until `expiresAt`, by the database's clock, which read `now`.
    case renewed(expiresAt: Date, now: Date)
    /// The lease had run out and another executor recovered this one's work (or the row is gone):
    /// everything it holds is fenced out. It must stop its work and register again.
    case lost
}

/// An executor as the registry shows it.
public struct ExecutorInfo: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int32
    public var threads: Int
    public var busy: Int
    public var tags: [String]
    public var actions: [String]
    public var state: ExecutorState
    public var startedAt: Date
    public var heartbeat: Date
    public var leaseExpiresAt: Date

    public init(
        id: String, host: String, pid: Int32, threads: Int, busy: Int, tags: [String], actions: [String],
        state: ExecutorState, startedAt: Date, heartbeat: Date, leaseExpiresAt: Date
    ) {
        (self.id, self.host, self.pid, self.threads, self.busy) = (id, host, pid, threads, busy)
        (self.tags, self.actions, self.state) = (tags, actions, state)
        (self.startedAt, self.heartbeat, self.leaseExpiresAt) = (startedAt, heartbeat, leaseExpiresAt)
    }
}
