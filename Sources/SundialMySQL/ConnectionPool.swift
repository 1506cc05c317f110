import Foundation
import Logging

/// A pool of connections to one server, or to one of the servers a URL names.
///
/// Blocking, like the connections in it: call it from threads you own. Connections are opened on
/// demand up to `maximumSize`; a caller that finds none free waits up to `acquireTimeout` and then
/// gets a `.poolExhausted` error. A connection idle for longer than `pingAfterIdle`, or idle when
/// another connection of the pool was found broken, is pinged before it is handed out, so a
/// server restart costs a caller at most one failed call. Connections retire after
/// `maximumLifetime`.
///
/// **Several hosts** (`mysql://u:p@db1,db2,db3/sundial`): all connections go to one node, the
/// current one. A pool for writes opens a connection by trying the nodes in order from the current
/// one and keeps the first that is writable (`@@read_only = 0`, and on Galera a node in the
/// primary component); a node that refuses a write (error 1290, 1047) stops being current, and
/// idle connections to it are closed instead of handed out. So after a failover the pool moves to
/// the promoted server by itself. When no node takes writes, the pool uses one that answers (for
/// reads), and writes fail fast until one does (asked again every `readOnlyRecheck`).
public final class ConnectionPool: @unchecked Sendable {
    /// Pool settings; every one has a default and can be set from the database URL.
    public struct Configuration: Sendable, Hashable {
        /// Connections opened by `prewarm()` and kept even when idle.
        public var minimumSize = 1
        public var maximumSize = 16
        /// How long `acquire` waits for a free connection before `.poolExhausted`.
        public var acquireTimeout: Duration = .seconds(5)
        /// A connection idle longer than this is pinged before use.
        public var pingAfterIdle: Duration = .seconds(10)
        /// How often a node marked read-only is asked again whether it still is.
        public var readOnlyRecheck: Duration = .seconds(1)
        public var connection = ConnectionOptions()

        public init() {}

        /// Reads `pool_min`, `pool_max`, `acquire_timeout`, `ping_after_idle`, `connect_timeout`,
        /// `read_timeout`, `write_timeout`, `max_lifetime` (seconds, fractions allowed; a lifetime
        /// of 0 is unlimited), `lock_wait_timeout`, `idle_transaction_timeout` (whole seconds, 0:
        /// none) and `statement_cache` from the URL's query parameters.
        public init(endpoint: MySQLEndpoint) throws(MySQLConfigurationError) {
            func integer(_ name: String, _ range: ClosedRange<Int>) throws(MySQLConfigurationError) -> Int? {
                guard let text = endpoint.options[name] else { return nil }
                guard let v = Int(text), range.contains(v) else {
                    throw MySQLConfigurationError(
                        "database URL: \(name)=\(text) must be a whole number from \(range.lowerBound) to \(range.upperBound)"
                    )
                }
                return v
            }
            func seconds(_ name: String) throws(MySQLConfigurationError) -> Duration? {
                guard let text = endpoint.options[name] else { return nil }
                guard let v = Double(text), v >= 0, v <= 86_400 else {
                    throw MySQLConfigurationError(
                        "database URL: \(name)=\(text) must be a number of seconds from 0 to 86400")
                }
                return .milliseconds(Int64(v * 1000))
            }
            let known: Set<String> = [
                "pool_min", "pool_max", "acquire_timeout", "ping_after_idle", "connect_timeout", "read_timeout",
                "write_timeout", "statement_cache", "lock_wait_timeout", "max_lifetime", "idle_transaction_timeout",
            ]
            if let unknown = endpoint.options.keys.sorted().first(where: { !known.contains($0) }) {
                throw MySQLConfigurationError(
                    "database URL: unknown parameter \(unknown) (known: socket, \(known.sorted().joined(separator: ", ")))"
                )
            }
            self.init()
            if let v = try integer("pool_max", 1...10_000) { maximumSize = v }
            if let v = try integer("pool_min", 0...10_000) { minimumSize = v }
            guard minimumSize <= maximumSize else {
                throw MySQLConfigurationError(
                    "database URL: pool_min (\(minimumSize)) is larger than pool_max (\(maximumSize))")
            }
            if let v = try seconds("acquire_timeout") { acquireTimeout = v }
            if let v = try seconds("ping_after_idle") { pingAfterIdle = v }
            if let v = try seconds("connect_timeout") { connection.connectTimeout = v }
            if let v = try seconds("read_timeout") { connection.readTimeout = v }
            if let v = try seconds("write_timeout") { connection.writeTimeout = v }
            if let v = try integer("statement_cache", 1...100_000) { connection.statementCacheSize = v }
            if let v = try integer("lock_wait_timeout", 1...3600) { connection.lockWaitTimeout = .seconds(v) }
            if let v = try integer("idle_transaction_timeout", 0...86_400) {
                connection.idleTransactionTimeout = v == 0 ? nil : .seconds(v)
            }
            if let v = try seconds("max_lifetime") { connection.maximumLifetime = v == .zero ? nil : v }
        }
    }

    /// Counts for diagnostics and tests.
    public struct Statistics: Sendable, Equatable {
        /// Connections that exist now: idle, leased, or being opened.
        public var open: Int
        public var idle: Int
        public var leased: Int
        public var created: Int
        public var discarded: Int
    }

    public let endpoint: MySQLEndpoint
    /// The servers the endpoint names, one per host.
    public let nodes: [MySQLEndpoint]
    /// Whether connections must take writes (the primary's pool) or only answer (a replica's).
    public let forWrites: Bool
    public let configuration: Configuration
    /// Idle for less than this, a connection is handed out without a socket check.
    static let trustedIdle: Duration = .milliseconds(2)
    private let logger: Logger
    private let condition = NSCondition()
    private var idle: [MySQLConnection] = []
    private var openCount = 0
    private var leasedCount = 0
    private var created = 0
    private var discarded = 0
    private var generation = 0
    private var closed = false
    /// The node new connections go to first, and the only one connections are handed out for.
    private var currentNode = 0
    /// Set while no node takes writes: writes are refused without being sent.
    private var readOnlySince: ContinuousClock.Instant?
    private var readOnlyCheckedAt: ContinuousClock.Instant?
    /// Counts the looks that found a writable node, so that an older look's read-only answer does
    /// not undo a newer one's.
    private var writableEpoch = 0

    /// `forWrites`: whether connections must take writes (see the type's documentation); a pool
    /// for reads keeps to the first node that answers.
    public init(endpoint: MySQLEndpoint, configuration: Configuration, logger: Logger, forWrites: Bool = true) {
        self.endpoint = endpoint
        self.nodes = endpoint.nodes
        self.forWrites = forWrites
        self.configuration = configuration
        self.logger = logger
    }

    /// The node connections go to now (`host:port` or the socket).
    public var current: MySQLEndpoint {
        condition.lock()
        defer { condition.unlock() }
        return nodes[currentNode]
    }

    /// Opens connections up to `minimumSize` now, so the first callers don't pay for it.
    public func prewarm() throws(MySQLError) {
        var opened: [MySQLConnection] = []
        while statistics.open + opened.count < configuration.minimumSize {
            opened.append(try openConnection())
        }
        condition.lock()
        openCount += opened.count
        idle.append(contentsOf: opened)
        condition.broadcast()
        condition.unlock()
    }

    /// Runs `body` with a connection of this pool and hands it back afterwards (or discards it if
    /// it broke).
    public func withConnection<T>(_ body: (MySQLConnection) throws -> T) throws -> T {
        let connection = try acquire()
        defer { release(connection) }
        return try body(connection)
    }

    /// Takes a connection; give it back with `release`. Prefer `withConnection`.
    public func acquire() throws(MySQLError) -> MySQLConnection {
        let deadline = Date().addingTimeInterval(configuration.acquireTimeout.seconds)
        condition.lock()
        while true {
            if closed {
                condition.unlock()
                throw MySQLError(
                    kind: .retryLater, code: 0, node: endpoint.node, statement: "acquire", message: "the pool is closed"
                )
            }
            if let connection = idle.popLast() {
                leasedCount += 1
                let now = ContinuousClock.now
                let stale =
                    connection.generation < generation
                    || now - connection.lastReleased > configuration.pingAfterIdle
                let retired =
                    connection.nodeIndex != currentNode || connection.retiresAt.map { now >= $0 } ?? false
                condition.unlock()
                if retired {
                    release(connection, discard: true)
                    condition.lock()
                    continue
                }
                guard connection.isIdleAndHealthy else {
                    logger.debug("discarding a connection the server closed", metadata: ["node": "\(endpoint.node)"])
                    release(connection, discard: true, serverClosed: true)
                    condition.lock()
                    continue
                }
                guard stale else { return connection }
                do {
                    try connection.ping()
                    connection.generation = currentGeneration
                    return connection
                } catch {
                    logger.debug(
                        "discarding a connection that failed its ping",
                        metadata: ["node": "\(endpoint.node)", "error": "\(error)"])
                    release(connection, discard: true)
                    condition.lock()
                    continue
                }
            }
            if openCount < configuration.maximumSize {
                openCount += 1
                leasedCount += 1
                condition.unlock()
                do {
                    return try openConnection()
                } catch {
                    condition.lock()
                    openCount -= 1
                    leasedCount -= 1
                    condition.signal()
                    condition.unlock()
                    throw error
                }
            }
            if !condition.wait(until: deadline) && idle.isEmpty && openCount >= configuration.maximumSize {
                condition.unlock()
                throw MySQLError(
                    kind: .poolExhausted, code: 0, node: endpoint.node, statement: "acquire",
                    message:
                        "no connection became free within \(configuration.acquireTimeout.seconds) s (pool_max=\(configuration.maximumSize), all in use)"
                )
            }
        }
    }

    /// Hands a connection back. Broken connections are closed and make the pool check the others
    /// before their next use.
    public func release(_ connection: MySQLConnection, discard: Bool = false) {
        release(connection, discard: discard, serverClosed: false)
    }

    private func release(_ connection: MySQLConnection, discard: Bool, serverClosed: Bool) {
        condition.lock()
        leasedCount -= 1
        if discard || connection.isBroken || closed {
            openCount -= 1
            discarded += 1
            // The server dropped one session: the others may be gone too (a restart). Check each
            // before its next use.
            if connection.isBroken || serverClosed { generation += 1 }
            condition.signal()
            condition.unlock()
            connection.close()
            return
        }
        connection.lastReleased = .now
        idle.append(connection)
        condition.signal()
        condition.unlock()
    }

    /// Closes idle connections and refuses new acquisitions; leased ones close when released.
    public func close() {
        condition.lock()
        closed = true
        let toClose = idle
        idle.removeAll()
        openCount -= toClose.count
        condition.broadcast()
        condition.unlock()
        toClose.forEach { $0.close() }
    }

    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return Statistics(
            open: openCount, idle: idle.count, leased: leasedCount, created: created, discarded: discarded)
    }

    // MARK: Nodes that refuse writes

    /// Whether writes should be refused without sending them: no node took writes at the last look.
    /// Looks again at most once per `readOnlyRecheck`, so that a node that became writable, or was
    /// promoted, is used again: on an idle connection of the current node if there is one (the
    /// pool does not grow for it), and, when that node still refuses and the URL names others, on
    /// a fresh connection tried through every host.
    func refusesWrites() -> Bool {
        condition.lock()
        guard readOnlySince != nil else {
            condition.unlock()
            return false
        }
        let due = readOnlyCheckedAt.map { ContinuousClock.now - $0 >= configuration.readOnlyRecheck } ?? true
        guard due, !closed else {
            condition.unlock()
            return true
        }
        readOnlyCheckedAt = .now
        let existing = idle.popLast()
        if existing != nil {
            leasedCount += 1
        } else if openCount < configuration.maximumSize {
            openCount += 1
            leasedCount += 1
        } else {
            condition.unlock()
            return true
        }
        condition.unlock()
        if let existing {
            if (try? existing.prepareForWrites()) == true {
                noteWritable(existing)
                release(existing)
                return false
            }
            guard nodes.count > 1 else {
                release(existing)
                return true
            }
            // Its slot goes to a fresh look through every host.
            release(existing, discard: true)
            condition.lock()
            openCount += 1
            leasedCount += 1
            condition.unlock()
        }
        do {
            release(try openConnection())
        } catch {
            condition.lock()
            openCount -= 1
            leasedCount -= 1
            condition.signal()
            condition.unlock()
        }
        condition.lock()
        defer { condition.unlock() }
        return readOnlySince != nil
    }

    /// A node refused a write on `connection` (read-only, or a Galera node outside the primary
    /// component). With several nodes the pool moves on to the next one; with one, writes are
    /// refused until it takes them again.
    func noteRefused(by connection: MySQLConnection) {
        condition.lock()
        let refusing = nodes[connection.nodeIndex].node
        if nodes.count > 1 {
            let moved = connection.nodeIndex == currentNode
            if moved { currentNode = (currentNode + 1) % nodes.count }
            condition.unlock()
            if moved {
                logger.warning(
                    "node refuses writes; looking for a writable one",
                    metadata: [
                        "node": "\(refusing)", "next": "\(nodes[(connection.nodeIndex + 1) % nodes.count].node)",
                    ])
            }
            return
        }
        let first = readOnlySince == nil
        if first {
            readOnlySince = .now
            readOnlyCheckedAt = .now
        }
        condition.unlock()
        if first {
            logger.warning("node is read-only; writes to it stop until it changes", metadata: ["node": "\(refusing)"])
        }
    }

    /// Opens a connection to the current node or, failing that, to the next ones in turn. A pool for
    /// writes keeps the first writable node. Only a refusal moves it off the current node for good:
    /// when the current node answers but refuses writes and no other node takes them, the pool
    /// stays there (for reads) and remembers that writes must wait; when the current node cannot be
    /// reached (a restart, too many connections) and no other node is writable, its error is thrown
    /// and nothing changes. With one host, only a refused write marks it read-only (behind a proxy
    /// the question may be answered by another server).
    private func openConnection() throws(MySQLError) -> MySQLConnection {
        let (start, epoch) = currentAndEpoch
        var fallback: MySQLConnection?
        var startError: MySQLError?
        var lastError: MySQLError?
        for step in 0..<nodes.count {
            let index = (start + step) % nodes.count
            let connection: MySQLConnection
            do {
                connection = try MySQLConnection(endpoint: nodes[index], options: configuration.connection)
                connection.nodeIndex = index
                guard forWrites else { return adopt(connection, writable: nil, since: epoch) }
                let writable = try connection.prepareForWrites()
                if writable {
                    fallback?.close()
                    return adopt(connection, writable: true, since: epoch)
                }
                // One host: its answer may come from elsewhere (a proxy); a refused write decides.
                if nodes.count == 1 { return adopt(connection, writable: nil, since: epoch) }
                if step == 0 { fallback = connection } else { connection.close() }
            } catch {
                if step == 0 { startError = error }
                lastError = error
            }
        }
        if let fallback { return adopt(fallback, writable: false, since: epoch) }
        throw startError ?? lastError!
    }

    /// A connection found the node writable: writes are no longer refused.
    private func noteWritable(_ connection: MySQLConnection) {
        condition.lock()
        let wasReadOnly = readOnlySince != nil && connection.nodeIndex == currentNode
        if wasReadOnly { readOnlySince = nil }
        writableEpoch += 1
        condition.unlock()
        if wasReadOnly { logger.notice("node accepts writes again", metadata: ["node": "\(connection.endpoint.node)"]) }
    }

    /// Makes `connection` one of the pool's: its node becomes the current one. A read-only node is
    /// not made current when another look found a writable one since `epoch` began.
    private func adopt(_ connection: MySQLConnection, writable: Bool?, since epoch: Int) -> MySQLConnection {
        if let lifetime = configuration.connection.maximumLifetime {
            connection.retiresAt = .now + lifetime * Double.random(in: 0.9...1.0)
        }
        condition.lock()
        created += 1
        connection.generation = generation
        if writable == false && writableEpoch != epoch {
            // Stale: it is handed out once (a write on it is refused and sent elsewhere), and the
            // pool stays where the newer look put it.
            condition.unlock()
            return connection
        }
        let moved = currentNode != connection.nodeIndex
        currentNode = connection.nodeIndex
        let wasReadOnly = readOnlySince != nil
        if writable == true {
            readOnlySince = nil
            writableEpoch += 1
        }
        if writable == false && !wasReadOnly {
            readOnlySince = .now
            readOnlyCheckedAt = .now
        }
        condition.unlock()
        let node = nodes[connection.nodeIndex].node
        if writable == false && !wasReadOnly {
            logger.warning(
                "no node accepts writes; writes stop until one does", metadata: ["node": "\(node)"])
        } else if writable == true && wasReadOnly {
            logger.notice("node accepts writes again", metadata: ["node": "\(node)"])
        } else if moved {
            logger.notice("connections go to another node now", metadata: ["node": "\(node)"])
        }
        return connection
    }

    private var currentAndEpoch: (Int, Int) {
        condition.lock()
        defer { condition.unlock() }
        return (currentNode, writableEpoch)
    }

    private var currentGeneration: Int {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
