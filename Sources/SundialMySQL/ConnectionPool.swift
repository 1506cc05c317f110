import Foundation
import Logging

/// A pool of connections to one server.
///
/// Blocking, like the connections in it: call it from threads you own. Connections are opened on
/// demand up to `maximumSize`; a caller that finds none free waits up to `acquireTimeout` and then
/// gets a `.poolExhausted` error. A connection idle for longer than `pingAfterIdle`, or idle when
/// another connection of the pool was found broken, is pinged before it is handed out, so a
/// server restart costs a caller at most one failed call. A node that refuses writes because it
/// is read-only is remembered, and writes fail fast until it is writable again.
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
        /// `read_timeout`, `write_timeout` (seconds, fractions allowed) and `statement_cache` from
        /// the URL's query parameters.
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
                "write_timeout", "statement_cache", "lock_wait_timeout",
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
    private var readOnlySince: ContinuousClock.Instant?
    private var readOnlyCheckedAt: ContinuousClock.Instant?

    public init(endpoint: MySQLEndpoint, configuration: Configuration, logger: Logger) {
        self.endpoint = endpoint
        self.configuration = configuration
        self.logger = logger
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
                let stale =
                    connection.generation < generation
                    || ContinuousClock.now - connection.lastReleased > configuration.pingAfterIdle
                condition.unlock()
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

    // MARK: Read-only nodes

    /// Whether writes should be refused without sending them. Rechecks the node at most once per
    /// `readOnlyRecheck`, so a node that became writable again is used again.
    func refusesWrites() -> Bool {
        condition.lock()
        guard readOnlySince != nil else {
            condition.unlock()
            return false
        }
        let due = readOnlyCheckedAt.map { ContinuousClock.now - $0 >= configuration.readOnlyRecheck } ?? true
        if due { readOnlyCheckedAt = .now }
        condition.unlock()
        guard due else { return true }
        let writable =
            (try? withConnection { c in
                try c.query("SELECT @@global.read_only AS ro").first?["ro"].int == 0
            }) ?? false
        if writable {
            condition.lock()
            readOnlySince = nil
            condition.unlock()
            logger.notice("node accepts writes again", metadata: ["node": "\(endpoint.node)"])
        }
        return !writable
    }

    func noteReadOnly() {
        condition.lock()
        let first = readOnlySince == nil
        if first {
            readOnlySince = .now
            readOnlyCheckedAt = .now
        }
        condition.unlock()
        if first {
            logger.warning(
                "node is read-only; writes to it stop until it changes", metadata: ["node": "\(endpoint.node)"])
        }
    }

    private var currentGeneration: Int {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    private func openConnection() throws(MySQLError) -> MySQLConnection {
        let connection = try MySQLConnection(endpoint: endpoint, options: configuration.connection)
        condition.lock()
        created += 1
        connection.generation = generation
        condition.unlock()
        return connection
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
