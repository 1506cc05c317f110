import Foundation
import Logging
import Synchronization

/// Where a read may be served from.
public enum ReadConsistency: Sendable {
    /// Any replica, falling back to the primary when none answers. May lag the primary.
    case replica
    /// The primary: sees every write that has committed (read-your-writes).
    case primary
}

/// A primary and its replicas: writes and transactions go to the primary, reads are spread over
/// the replicas and fall back to the primary when a replica is down.
///
/// Every call blocks the calling thread; call it from threads you own.
public final class Database: Sendable {
    public let primary: ConnectionPool
    public let replicas: [ConnectionPool]
    private let logger: Logger
    private let nextReplica = Atomic<Int>(0)
    /// Per replica: until when it is skipped after failing (uptime nanoseconds; 0 = healthy).
    private let replicaDownUntil: Mutex<[UInt64]>
    /// How long a failed replica is skipped before it is tried again.
    public let replicaRetryAfter: Duration

    public init(
        primary: MySQLEndpoint, replicas: [MySQLEndpoint] = [], logger: Logger,
        replicaRetryAfter: Duration = .seconds(2)
    ) throws(MySQLConfigurationError) {
        self.primary = ConnectionPool(
            endpoint: primary, configuration: try .init(endpoint: primary), logger: logger)
        var replicaPools: [ConnectionPool] = []
        for endpoint in replicas {
            replicaPools.append(
                ConnectionPool(
                    endpoint: endpoint, configuration: try .init(endpoint: endpoint), logger: logger, forWrites: false))
        }
        self.replicas = replicaPools
        self.replicaDownUntil = Mutex(replicas.map { _ in 0 })
        self.logger = logger
        self.replicaRetryAfter = replicaRetryAfter
    }

    /// Builds from URLs, as given in `SUNDIAL_DATABASE_URL` and `SUNDIAL_REPLICA_URLS`.
    public convenience init(url: String, replicaURLs: [String] = [], logger: Logger) throws(MySQLConfigurationError) {
        var replicas: [MySQLEndpoint] = []
        for (i, text) in replicaURLs.enumerated() {
            do {
                replicas.append(try MySQLEndpoint(url: text))
            } catch {
                throw MySQLConfigurationError("replica URL \(i + 1): \(error.message)")
            }
        }
        try self.init(primary: try MySQLEndpoint(url: url), replicas: replicas, logger: logger)
    }

    /// Opens each pool's `pool_min` connections now. A replica that is down is only logged: reads
    /// fall back to the primary until it answers.
    public func prewarm() throws(MySQLError) {
        try primary.prewarm()
        for replica in replicas {
            do {
                try replica.prewarm()
            } catch {
                logger.warning(
                    "replica unavailable at start", metadata: ["node": "\(replica.endpoint.node)", "error": "\(error)"])
            }
        }
    }

    /// Closes every pool.
    public func close() {
        primary.close()
        replicas.forEach { $0.close() }
    }

    // MARK: Reads

    /// Runs a query and returns its rows, from a replica unless `consistency` is `.primary`.
    public func query(
        _ sql: String, _ parameters: [MySQLValue] = [], consistency: ReadConsistency = .replica
    ) throws(MySQLError) -> [MySQLRow] {
        var rows: [MySQLRow] = []
        try stream(sql, parameters, consistency: consistency) { rows.append($0) }
        return rows
    }

    /// Streams a query's rows to `body` one at a time. If the node fails before the first row,
    /// the next node is tried; after rows have been delivered, the error is thrown.
    public func stream(
        _ sql: String, _ parameters: [MySQLValue] = [], consistency: ReadConsistency = .replica,
        _ body: (MySQLRow) throws -> Void
    ) throws(MySQLError) {
        var delivered = false
        let deliver: (MySQLRow) throws -> Void = { row in
            delivered = true
            try body(row)
        }
        if consistency == .replica {
            for index in replicaOrder() {
                do {
                    try readOnce(replicas[index], sql, parameters, deliver)
                    return
                } catch {
                    guard !delivered, [.retryLater, .poolExhausted, .readOnly].contains(error.kind) else { throw error }
                    markReplicaDown(index, error)
                }
            }
        }
        try readOnce(primary, sql, parameters, deliver)
    }

    /// One read on one node, retried once on a fresh connection if the first one had broken.
    private func readOnce(
        _ pool: ConnectionPool, _ sql: String, _ parameters: [MySQLValue], _ body: (MySQLRow) throws -> Void
    ) throws(MySQLError) {
        var delivered = false
        for attempt in 1...2 {
            do {
                try pool.withConnection { connection in
                    do {
                        try connection.stream(sql, parameters) { row in
                            delivered = true
                            try body(row)
                        }
                    } catch let error as MySQLError where pool.forWrites && connection.galeraNodeLeftCluster(error) {
                        // A Galera node outside the primary component answers nothing: the pool
                        // leaves it (when the URL names others), as a refused write would.
                        pool.noteRefused(by: connection)
                        throw error.asRefusal
                    }
                }
                return
            } catch let error as MySQLError {
                if attempt == 1 && error.isConnectionBroken && !delivered && error.code != 2002 && error.code != 2003 {
                    continue
                }
                if attempt == 1 && error.code == 1047 && !delivered && pool.nodes.count > 1 { continue }
                throw error
            } catch {
                throw MySQLError(
                    kind: .badStatement, code: 0, node: pool.endpoint.node, statement: MySQLError.summary(of: sql),
                    message: "\(error)")
            }
        }
    }

    /// Healthy replicas in round-robin order, then any that were marked down but are due a retry.
    private func replicaOrder() -> [Int] {
        guard !replicas.isEmpty else { return [] }
        let start = nextReplica.add(1, ordering: .relaxed).oldValue
        let now = DispatchTime.now().uptimeNanoseconds
        let downUntil = replicaDownUntil.withLock { $0 }
        return (0..<replicas.count).map { (start + $0) % replicas.count }.filter { downUntil[$0] <= now }
    }

    private func markReplicaDown(_ index: Int, _ error: MySQLError) {
        let until = DispatchTime.now().uptimeNanoseconds + UInt64(replicaRetryAfter.seconds * 1e9)
        let previous = replicaDownUntil.withLock { downUntil in
            defer { downUntil[index] = until }
            return downUntil[index]
        }
        if previous < DispatchTime.now().uptimeNanoseconds {
            logger.warning(
                "replica unavailable, reading from the others or the primary",
                metadata: ["node": "\(replicas[index].endpoint.node)", "error": "\(error)"])
        }
    }

    // MARK: Writes

    /// Runs a write on the primary and returns the affected rows and last insert id.
    ///
    /// Sent again on a fresh connection only when the server certainly did not run it (the
    /// connection had been killed); otherwise the error is thrown, since the write may have happened.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [MySQLValue] = []) throws(MySQLError) -> MySQLExecuteResult {
        try write(sql) { connection throws(MySQLError) in try connection.execute(sql, parameters) }
    }

    /// Runs `body` in a transaction on the primary. A deadlock, a lock-wait timeout or a Galera
    /// certification failure rolls back and runs the whole body again, up to `maxAttempts` times
    /// with a short randomised pause, so the body must be safe to repeat (no side effects outside
    /// the database). So does a node that refused the body's first write, when the URL names other
    /// nodes. A COMMIT that fails otherwise throws `.outcomeUnknown`: it may have committed.
    @discardableResult
    public func transaction<T>(
        maxAttempts: Int = 5, _ body: (MySQLConnection) throws -> T
    ) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            if primary.refusesWrites() { throw readOnlyError("START TRANSACTION") }
            let connection = try primary.acquire()
            var committing = false
            do {
                try connection.executeText("START TRANSACTION")
                let result = try body(connection)
                committing = true
                try connection.executeText("COMMIT")
                primary.release(connection)
                return result
            } catch {
                // A failed COMMIT leaves nothing to roll back, but ROLLBACK is harmless then.
                if !connection.isBroken { try? connection.executeText("ROLLBACK") }
                guard let failure = error as? MySQLError else {
                    primary.release(connection)
                    throw error
                }
                // Before COMMIT, a Galera node that left the cluster did nothing: a refusal.
                let mysql = !committing && connection.galeraNodeLeftCluster(failure) ? failure.asRefusal : failure
                if mysql.kind == .readOnly { primary.noteRefused(by: connection) }
                primary.release(connection)
                // A conflict rolled the transaction back, even at COMMIT (that is how Galera
                // reports a lost certification), and so did a read-only refusal (1290: the server
                // refused before committing). Anything else at COMMIT leaves it unknown.
                if committing && !mysql.isTransactionConflict && mysql.code != 1290 {
                    throw mysql.withUnknownOutcome
                }
                // Refused or killed before COMMIT was sent: nothing committed; safe to run again.
                let retryable =
                    mysql.isTransactionConflict || mysql.certainlyNotExecuted
                    || (mysql.kind == .readOnly && primary.nodes.count > 1)
                if retryable && attempt < maxAttempts {
                    pauseBeforeRetry(attempt, mysql)
                    continue
                }
                throw mysql
            }
        }
    }

    private func pauseBeforeRetry(_ attempt: Int, _ error: MySQLError) {
        logger.debug("retrying transaction", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
        let base = 0.005 * pow(2, Double(attempt - 1))
        Thread.sleep(forTimeInterval: Double.random(in: base...(base * 2)))
    }

    /// Runs a write on a primary connection, refusing fast when the primary is known read-only and
    /// remembering when it says so.
    private func write<T>(_ sql: String, _ body: (MySQLConnection) throws(MySQLError) -> T) throws(MySQLError) -> T {
        if primary.refusesWrites() { throw readOnlyError(sql) }
        for attempt in 1...2 {
            let connection = try primary.acquire()
            do {
                let result = try body(connection)
                primary.release(connection)
                return result
            } catch {
                let error = connection.galeraNodeLeftCluster(error) ? error.asRefusal : error
                if error.kind == .readOnly { primary.noteRefused(by: connection) }
                primary.release(connection)
                // A node that refused the write did nothing: another node of the URL may take it.
                let elsewhere = error.kind == .readOnly && primary.nodes.count > 1 && !primary.refusesWrites()
                if attempt == 1 && (error.certainlyNotExecuted || elsewhere) { continue }
                // An autocommit statement commits as it runs: failing otherwise than by a refusal,
                // a conflict or a bad statement, it may have taken effect (Galera's "error during
                // COMMIT", 1180).
                if error.code == 1180 { throw error.withUnknownOutcome }
                throw error
            }
        }
        fatalError("unreachable")
    }

    private func readOnlyError(_ sql: String) -> MySQLError {
        MySQLError(
            kind: .readOnly, code: 1290, node: primary.endpoint.node, statement: MySQLError.summary(of: sql),
            message:
                primary.nodes.count > 1
                ? "no node accepts writes (read-only, or outside the cluster's primary component); writes are refused until one does"
                : "the node is read-only (or outside the Galera cluster's primary component); writes are refused until it accepts them again"
        )
    }
}
