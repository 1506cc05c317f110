import Foundation
import SundialSupervisor

/// The executor's lease as its shell commands' supervisor must know it, and the connection to
/// that supervisor: every ping tells it how long the lease is certainly still valid, so that each
/// command is dead before another executor could take its fire over (see `SupervisorWatch`).
public final class ShellLiveness: @unchecked Sendable {
    private let lock = NSLock()
    private var leaseValidUntil: ContinuousClock.Instant?
    private var currentFenceGrace: Double = 5
    private var connections: [[String]: JobSupervisorConnection] = [:]

    public init() {}

    /// Commands may certainly run until `validUntil`: the executor's lease (measured from before
    /// the renewal was sent) less a margin for the kill to land. `fenceGrace`: seconds between
    /// SIGTERM and SIGKILL when commands must go before then.
    public func leaseRenewed(validUntil: ContinuousClock.Instant, fenceGrace: Double) {
        lock.withLock {
            leaseValidUntil = max(leaseValidUntil ?? validUntil, validUntil)
            currentFenceGrace = fenceGrace
        }
    }

    /// Seconds the lease is certainly still valid; very long when there is no lease (a handler
    /// used outside an executor).
    var leaseLeft: Double {
        lock.withLock { leaseValidUntil.map { max(0, ($0 - .now).timeInterval) } ?? 1e9 }
    }

    var fenceGrace: Double { lock.withLock { currentFenceGrace } }

    /// The supervisor started with `command` (one per executor in practice), started on first use.
    func supervisor(_ command: [String]) -> JobSupervisorConnection {
        lock.withLock {
            if let connection = connections[command] { return connection }
            let connection = JobSupervisorConnection(command: command)
            connections[command] = connection
            return connection
        }
    }

    /// The supervisor processes running now (one per executor in practice).
    public var supervisorProcessIDs: [Int32] {
        lock.withLock { Array(connections.values) }.compactMap(\.processID)
    }

    /// Tells the supervisors how long the lease is certainly still valid.
    public func pingAll() {
        let (until, all) = lock.withLock { (leaseValidUntil, Array(connections.values)) }
        guard let until, !all.isEmpty else { return }
        let milliseconds = Int(max(0, (until - .now).timeInterval) * 1000)
        for connection in all { connection.send(.lease(milliseconds: milliseconds)) }
    }
}
