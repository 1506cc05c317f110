import CMariaDB
import Foundation

/// Timeouts and limits for one connection.
public struct ConnectionOptions: Sendable, Hashable {
    /// How long to wait for the server to accept a connection.
    public var connectTimeout: Duration = .seconds(5)
    /// How long a single read may block; a server that stops answering is noticed after this.
    public var readTimeout: Duration = .seconds(60)
    public var writeTimeout: Duration = .seconds(60)
    /// How long a connection is used before it is closed and replaced (at most; each one retires at
    /// a random point of the last tenth, so a pool's connections don't all reconnect at once). A
    /// DNS name or a proxy that moved to another server is followed within this. `nil`: forever.
    public var maximumLifetime: Duration? = .seconds(600)
    /// Prepared statements kept per connection; the least recently used is closed past this.
    public var statementCacheSize = 128
    /// How long a statement waits for a row lock held elsewhere (`innodb_lock_wait_timeout`).
    public var lockWaitTimeout: Duration = .seconds(5)
    /// How long the server lets this session sit idle inside an open transaction before it ends
    /// the session and rolls the transaction back (MariaDB's `idle_transaction_timeout`; nil:
    /// never). A client frozen or cut off in the middle of a transaction would otherwise keep its
    /// row locks until `wait_timeout` (8 hours by default), and every executor that needs those
    /// rows would wait on it. Sundial's own transactions never pause between statements for
    /// anything like this long. Whole seconds; MySQL has no such setting and ignores it.
    public var idleTransactionTimeout: Duration? = .seconds(3)

    public init() {}
}

/// One session with a MySQL/MariaDB server through MariaDB Connector/C.
///
/// Every call blocks the calling thread: use it from threads you own (an executor's pool threads, a
/// dedicated thread), never from Swift's cooperative pool. A connection is used by one thread at a
/// time; the pool hands it over. Sessions run with `time_zone='+00:00'`, utf8mb4 and READ
/// COMMITTED isolation, and values
/// always travel as bound parameters of prepared statements, which are cached per connection.
public final class MySQLConnection: @unchecked Sendable {
    /// The statements every session starts with. Standard statements only, for MySQL 8.0+ and
    /// MariaDB 10.6+ alike (MySQL 8 removed `tx_isolation`). READ COMMITTED: claims and run
    /// bookkeeping lock only the rows they touch, not gaps. A short lock wait: Sundial's own
    /// transactions are short, and a row locked elsewhere must not stall an executor for the
    /// server's default 50 s.
    public static func sessionSetup(lockWait: Duration, idleTransaction: Duration? = nil) -> [String] {
        // `/*M!100300 … */` is run by MariaDB 10.3 and later only; MySQL reads it as a comment.
        let idle = idleTransaction.map {
            " /*M!100300 , idle_transaction_timeout = \(max(1, $0.components.seconds)) */"
        }
        return [
            "SET time_zone = '+00:00'",
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET SESSION innodb_lock_wait_timeout = \(max(1, lockWait.components.seconds))\(idle ?? "")",
        ]
    }

    public let endpoint: MySQLEndpoint
    private let handle: UnsafeMutablePointer<MYSQL>
    private let options: ConnectionOptions
    private var statements: [String: PreparedStatement] = [:]
    private var useCounter: UInt64 = 0
    private var closed = false

    /// Set once the server has gone away or killed this session: the pool must not reuse it.
    public private(set) var isBroken = false
    /// The server's id for this session (`CONNECTION_ID()`), for `KILL`.
    public let serverThreadID: UInt
    /// When the pool last handed it back; used to decide when a ping is due.
    var lastReleased = ContinuousClock.now
    /// The pool's failure generation when this connection was last known good.
    var generation = 0
    /// Which of its pool's nodes this connection is to.
    var nodeIndex = 0
    /// A session on a Galera node (seen by `prepareForWrites`).
    public private(set) var isGalera = false
    /// When the pool closes it instead of handing it out again (`maximumLifetime`).
    var retiresAt: ContinuousClock.Instant?

    private static let libraryInitialised: Bool = {
        mysql_server_init(0, nil, nil) == 0
    }()

    /// Opens a session. Throws `MySQLError` naming the node, never the password.
    public init(endpoint: MySQLEndpoint, options: ConnectionOptions = ConnectionOptions()) throws(MySQLError) {
        self.endpoint = endpoint
        self.options = options
        guard Self.libraryInitialised, let handle = mysql_init(nil) else {
            throw MySQLError(
                kind: .refused, code: 0, node: endpoint.node, statement: "connect",
                message: "the MariaDB client library could not be initialised")
        }
        self.handle = handle
        var connectTimeout = UInt32(max(1, options.connectTimeout.components.seconds))
        var readTimeout = UInt32(max(1, options.readTimeout.components.seconds))
        var writeTimeout = UInt32(max(1, options.writeTimeout.components.seconds))
        var reconnect: my_bool = 0
        mysql_options(handle, MYSQL_OPT_CONNECT_TIMEOUT, &connectTimeout)
        mysql_options(handle, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        mysql_options(handle, MYSQL_OPT_WRITE_TIMEOUT, &writeTimeout)
        mysql_options(handle, MYSQL_OPT_RECONNECT, &reconnect)
        mysql_options(handle, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        for statement in Self.sessionSetup(
            lockWait: options.lockWaitTimeout, idleTransaction: options.idleTransactionTimeout)
        {
            mysql_options(handle, MYSQL_INIT_COMMAND, statement)
        }
        let connected = mysql_real_connect(
            handle, endpoint.socket == nil ? endpoint.host : nil, endpoint.user, endpoint.password,
            endpoint.database, UInt32(endpoint.port), endpoint.socket, 0)
        guard connected != nil else {
            let code = Int(mysql_errno(handle))
            let message = String(cString: mysql_error(handle))
            mysql_close(handle)
            throw MySQLError(
                kind: MySQLError.kind(forCode: code), code: code, node: endpoint.node, statement: "connect",
                message: message)
        }
        serverThreadID = UInt(mysql_thread_id(handle))
    }

    deinit { close() }

    /// Closes the session and its statements. Safe to call twice.
    public func close() {
        guard !closed else { return }
        closed = true
        statements.removeAll()
        mysql_close(handle)
    }

    // MARK: Statements

    /// Runs a statement that returns no rows. Values are bound to `?` placeholders in order.
    @discardableResult
    public func execute(_ sql: String, _ parameters: [MySQLValue] = []) throws(MySQLError) -> MySQLExecuteResult {
        let statement = try run(sql, parameters)
        let result = MySQLExecuteResult(affectedRows: statement.affectedRows, lastInsertID: statement.insertID)
        if mysql_stmt_field_count(statement.handle) > 0 { mysql_stmt_free_result(statement.handle) }
        return result
    }

    /// Runs a query and returns all of its rows.
    public func query(_ sql: String, _ parameters: [MySQLValue] = []) throws(MySQLError) -> [MySQLRow] {
        var rows: [MySQLRow] = []
        try stream(sql, parameters) { rows.append($0) }
        return rows
    }

    /// Runs a query and hands its rows to `body` one at a time as they arrive, without holding the
    /// whole result in memory. `body` must not use this connection.
    public func stream(
        _ sql: String, _ parameters: [MySQLValue] = [], _ body: (MySQLRow) throws -> Void
    ) throws(MySQLError) {
        let statement = try run(sql, parameters)
        do {
            try statement.fetchRows(node: endpoint.node, body)
        } catch let error as MySQLError {
            throw noting(error)
        } catch {
            throw MySQLError(
                kind: .badStatement, code: 0, node: endpoint.node, statement: MySQLError.summary(of: sql),
                message: "reading rows failed: \(error)")
        }
    }

    /// Runs SQL through the text protocol, without parameters: for statements that can't be
    /// prepared and for migration files. Any result is read and discarded.
    public func executeText(_ sql: String) throws(MySQLError) {
        try ensureOpen(sql)
        if mysql_real_query(handle, sql, UInt(sql.utf8.count)) != 0 { throw connectionError(sql) }
        repeat {
            if let result = mysql_store_result(handle) { mysql_free_result(result) }
            if mysql_errno(handle) != 0 { throw connectionError(sql) }
        } while mysql_next_result(handle) == 0
    }

    /// Checks that the server still answers.
    public func ping() throws(MySQLError) {
        try ensureOpen("ping")
        if mysql_ping(handle) != 0 { throw connectionError("ping") }
    }

    /// Asks the server whether it takes writes (`@@read_only`), and on a Galera node makes this
    /// session's reads, updates and deletes wait until the node has applied every write the
    /// cluster committed before them (`wsrep_sync_wait` with bits 1 and 2 added to the server's),
    /// so that a lease or a claim read here is never older than one written on another node. A Galera node outside the
    /// primary component is refused with error 1047, as the server itself would refuse it.
    /// Standard `SHOW` statements only: MySQL 8 and MariaDB without Galera answer them too.
    public func prepareForWrites() throws(MySQLError) -> Bool {
        var variables: [String: String] = [:]
        for row in try query("SHOW VARIABLES WHERE Variable_name IN ('read_only', 'wsrep_on', 'wsrep_sync_wait')") {
            if let name = row[0].string { variables[name.lowercased()] = row[1].string?.uppercased() }
        }
        isGalera = variables["wsrep_on"] == "ON"
        if isGalera {
            let ready = try query("SHOW STATUS LIKE 'wsrep_ready'").first?[1].string?.uppercased()
            guard ready == "ON" else {
                throw MySQLError(
                    kind: .readOnly, code: 1047, node: endpoint.node, statement: "connect",
                    message: "the Galera node is not ready for clients (outside the primary component, or joining)")
            }
            // 1: reads (and START TRANSACTION); 2: UPDATE and DELETE, so that a release or a lease
            // renewal sent to another node after an unknown outcome sees what the first one did.
            if let wait = variables["wsrep_sync_wait"].flatMap({ Int($0) }), wait & 3 != 3 {
                try executeText("SET SESSION wsrep_sync_wait = \(wait | 3)")
            }
        }
        return variables["read_only"] == "OFF"
    }

    /// Whether `error` means that this Galera node has left the cluster's primary component: 1047,
    /// or a read that timed out waiting for the cluster (1205 under `wsrep_sync_wait`) on a node
    /// that says it is not ready. Asks the node in the second case (`SHOW STATUS` still answers).
    func galeraNodeLeftCluster(_ error: MySQLError) -> Bool {
        guard isGalera, !isBroken else { return false }
        if error.code == 1047 { return true }
        guard error.code == 1205 else { return false }
        let ready = try? query("SHOW STATUS LIKE 'wsrep_ready'").first?[1].string?.uppercased()
        return ready != "ON"
    }

    /// Whether an idle connection can be used without asking the server: an idle session has
    /// nothing to read, so a readable socket means the server closed it (KILL, restart, timeout)
    /// or sent something unexpected. One non-blocking `poll`, far cheaper than a ping.
    var isIdleAndHealthy: Bool {
        guard !closed, !isBroken else { return false }
        var descriptor = pollfd(fd: Int32(mysql_get_socket(handle)), events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    /// The number of prepared statements currently cached (for tests and diagnostics).
    public var cachedStatementCount: Int { statements.count }

    // MARK: Internals

    private func run(_ sql: String, _ parameters: [MySQLValue]) throws(MySQLError) -> PreparedStatement {
        try ensureOpen(sql)
        for value in parameters {
            // A date MySQL cannot hold is refused here, before it reaches the C library.
            if case .date(let date) = value, !MySQLTime.storable.contains(date) {
                throw MySQLError(
                    kind: .badStatement, code: 1292, node: endpoint.node, statement: MySQLError.summary(of: sql),
                    message: "a time outside the years 1000 to 9999 cannot be stored")
            }
        }
        let statement = try prepared(sql)
        do {
            _ = try statement.execute(parameters, node: endpoint.node)
        } catch {
            // The server forgot the statement (it was re-prepared or evicted): prepare it once more.
            if error.code == 1243 || error.code == 1615 {
                statements[sql] = nil
                let again = try prepared(sql)
                do {
                    _ = try again.execute(parameters, node: endpoint.node)
                } catch {
                    throw noting(error)
                }
                return again
            }
            throw noting(error)
        }
        return statement
    }

    private func prepared(_ sql: String) throws(MySQLError) -> PreparedStatement {
        useCounter += 1
        if let cached = statements[sql] {
            cached.lastUsed = useCounter
            return cached
        }
        guard let handle = mysql_stmt_init(self.handle) else { throw connectionError(sql) }
        if mysql_stmt_prepare(handle, sql, UInt(sql.utf8.count)) != 0 {
            let statement = PreparedStatement(handle: handle, sql: sql)
            throw noting(statement.error(node: endpoint.node))
        }
        let statement = PreparedStatement(handle: handle, sql: sql)
        statement.lastUsed = useCounter
        if statements.count >= options.statementCacheSize,
            let oldest = statements.min(by: { $0.value.lastUsed < $1.value.lastUsed })
        {
            statements[oldest.key] = nil
        }
        statements[sql] = statement
        return statement
    }

    private func ensureOpen(_ sql: String) throws(MySQLError) {
        if closed || isBroken {
            throw MySQLError(
                kind: .retryLater, code: 2006, node: endpoint.node, statement: MySQLError.summary(of: sql),
                message: "the connection is closed")
        }
    }

    private func connectionError(_ sql: String) -> MySQLError {
        let code = Int(mysql_errno(handle))
        let error = MySQLError(
            kind: MySQLError.kind(forCode: code), code: code, node: endpoint.node,
            statement: MySQLError.summary(of: sql),
            message: MySQLError.redacted(String(cString: mysql_error(handle)), code: code))
        return noting(error)
    }

    /// Marks the connection broken when the error says the session is gone.
    private func noting(_ error: MySQLError) -> MySQLError {
        if error.isConnectionBroken { isBroken = true }
        return error
    }
}
