import Foundation
import SundialMySQL
import SundialTesting
import Synchronization
import Testing

/// The connection module against a real MariaDB primary and binlog replica.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase, "needs SUNDIAL_TEST_DATABASE_URL"))
struct DatabaseIntegrationTests {
    static let name = "sundial_test_connection"
    let db: Database

    /// One database for the suite, made once; each test uses rows of its own.
    static let setUp: Result<Void, Error> = Result {
        try IntegrationEnvironment.freshDatabase(name)
        let db = try IntegrationEnvironment.database(name)
        defer { db.close() }
        try db.execute(
            """
            CREATE TABLE t (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64) UNIQUE, n INT, u BIGINT UNSIGNED,
              d DOUBLE, b TINYINT(1), at DATETIME(6), note MEDIUMTEXT, blob_value BLOB, server INT)
            """)
    }

    init() throws {
        try Self.setUp.get()
        db = try IntegrationEnvironment.database(Self.name)
        try IntegrationEnvironment.waitForReplica(db)
    }

    @Test func typedValuesRoundTrip() throws {
        let at = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let long = String(repeating: "Sundial ☀️ ", count: 10_000)
        let inserted = try db.execute(
            "INSERT INTO t (name, n, u, d, b, at, note, blob_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ["naïve 🕰", -42, .uint(UInt64.max), 2.5, true, .date(at), .string(long), .bytes([0, 1, 2, 255])])
        #expect(inserted.affectedRows == 1)
        #expect(inserted.lastInsertID > 0)
        let row = try #require(
            try db.query("SELECT * FROM t WHERE id = ?", [.int(Int64(inserted.lastInsertID))], consistency: .primary)
                .first)
        #expect(row["name"] == "naïve 🕰")
        #expect(row["n"].int == -42)
        #expect(row["u"] == .uint(UInt64.max))
        #expect(row["d"].double == 2.5)
        #expect(row["b"].bool == true)
        #expect(row["at"].date == at)
        #expect(row["note"].string == long)
        #expect(row["blob_value"] == .bytes([0, 1, 2, 255]))
        #expect(row["server"] == .null)
        #expect(try db.query("SELECT ? AS v, ? AS w", [nil, .date(at)], consistency: .primary).first?["w"].date == at)
    }

    @Test func sessionsRunInUTCWithUTF8MB4() throws {
        let row = try #require(try db.query("SELECT @@session.time_zone AS tz, @@character_set_connection AS cs").first)
        #expect(row["tz"] == "+00:00")
        #expect(row["cs"] == "utf8mb4")
    }

    @Test(.enabled(if: IntegrationEnvironment.hasReplica)) func readsLandOnTheReplicaAndWritesOnThePrimary() throws {
        #expect(try db.query("SELECT @@server_id AS id").first?["id"].int == 2)
        #expect(try db.query("SELECT @@server_id AS id", consistency: .primary).first?["id"].int == 1)
        try db.execute("INSERT INTO t (name, server) VALUES ('where', @@server_id)")
        #expect(
            try db.query("SELECT server FROM t WHERE name = 'where'", consistency: .primary).first?["server"].int == 1)
        try db.transaction { c in try c.execute("UPDATE t SET n = @@server_id WHERE name = 'where'") }
        #expect(try db.query("SELECT n FROM t WHERE name = 'where'", consistency: .primary).first?["n"].int == 1)
        // The replica executes no client statements for them: only the two status queries count.
        func replicaExecutions() throws -> Int {
            try db.replicas[0].withConnection { c in
                try c.query("SHOW GLOBAL STATUS LIKE 'Com_stmt_execute'").first?["Value"].int ?? 0
            }
        }
        let before = try replicaExecutions()
        for i in 0..<20 {
            try db.execute("INSERT INTO t (name, server) VALUES (?, @@server_id)", [.string("write-\(i)")])
        }
        #expect(try replicaExecutions() - before <= 2)
        #expect(
            try db.query("SELECT COUNT(*) AS n FROM t WHERE name LIKE 'write-%' AND server = 1", consistency: .primary)
                .first?["n"].int == 20)
    }

    @Test(.enabled(if: IntegrationEnvironment.hasReplica && IntegrationEnvironment.devdb != nil))
    func readsFallBackToThePrimaryWhileTheReplicaIsStopped() throws {
        try IntegrationEnvironment.devdb("stop", "replica")
        defer { try? IntegrationEnvironment.devdb("start", "replica") }
        for _ in 0..<5 {
            #expect(try db.query("SELECT @@server_id AS id").first?["id"].int == 1)
        }
        try IntegrationEnvironment.devdb("start", "replica")
        // The replica is tried again once its back-off has passed.
        var servedBy: Int?
        for _ in 0..<100 {
            servedBy = try db.query("SELECT @@server_id AS id").first?["id"].int
            if servedBy == 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(servedBy == 2)
    }

    @Test func aRealDeadlockIsRetriedAndBothTransactionsCommit() async throws {
        try db.execute("INSERT INTO t (name, n) VALUES ('a', 0), ('b', 0)")
        let attempts = Atomic<Int>(0)
        let firstLocksTaken = Atomic<Int>(0)
        let db = self.db
        try await onThreads(2) { i in
            let (first, second) = i == 0 ? ("a", "b") : ("b", "a")
            try db.transaction { c in
                let attempt = attempts.add(1, ordering: .relaxed).newValue
                try c.execute("UPDATE t SET n = n + 1 WHERE name = ?", [.string(first)])
                if attempt <= 2 {
                    // Both hold their first row before either asks for the second: a true deadlock.
                    firstLocksTaken.add(1, ordering: .relaxed)
                    let deadline = Date().addingTimeInterval(5)
                    while firstLocksTaken.load(ordering: .relaxed) < 2 && Date() < deadline { usleep(1000) }
                }
                try c.execute("UPDATE t SET n = n + 1 WHERE name = ?", [.string(second)])
            }
        }
        #expect(
            attempts.load(ordering: .relaxed) >= 3, "one transaction was chosen as the deadlock victim and ran again")
        let rows = try db.query("SELECT name, n FROM t WHERE name IN ('a', 'b') ORDER BY name", consistency: .primary)
        #expect(rows.map { $0["n"].int } == [2, 2])
    }

    @Test func aKilledConnectionIsReplacedTransparently() throws {
        let victim = try db.primary.withConnection { $0.serverThreadID }
        let killer = try MySQLConnection(endpoint: db.primary.endpoint)
        defer { killer.close() }
        /// KILL returns before the server has closed the socket: wait until the session is gone.
        func kill(_ id: UInt) throws {
            try killer.execute("KILL ?", [.int(Int64(id))])
            for _ in 0..<200 {
                let left = try killer.query(
                    "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ?", [.int(Int64(id))])
                if left.first?["n"].int == 0 { return }
                usleep(10_000)
            }
        }
        try kill(victim)
        #expect(try db.query("SELECT 1 AS one", consistency: .primary).first?["one"].int == 1)
        // Writes too: the next write goes through without the caller seeing an error.
        let second = try db.primary.withConnection { $0.serverThreadID }
        try kill(second)
        #expect(try db.execute("INSERT INTO t (name) VALUES ('after-kill')").affectedRows == 1)
        #expect(db.primary.statistics.discarded >= 2)
    }

    /// A client frozen (or cut off) in the middle of a transaction: the server ends its session
    /// once it has been idle in the transaction for `idle_transaction_timeout`, and its row locks
    /// go with it, instead of staying until `wait_timeout` (8 hours by default).
    @Test func aSessionFrozenInsideATransactionLosesItsLocksAfterTheIdleBound() throws {
        try db.execute("INSERT INTO t (name, n) VALUES ('frozen', 0)")
        var options = ConnectionOptions()
        options.idleTransactionTimeout = .seconds(1)
        let frozen = try MySQLConnection(endpoint: db.primary.endpoint, options: options)
        defer { frozen.close() }
        let other = try MySQLConnection(endpoint: db.primary.endpoint)
        defer { other.close() }
        #expect(try other.query("SELECT @@session.idle_transaction_timeout AS v").first?["v"].int == 3)
        #expect(try frozen.query("SELECT @@session.idle_transaction_timeout AS v").first?["v"].int == 1)
        try frozen.executeText("START TRANSACTION")
        try frozen.execute("UPDATE t SET n = 1 WHERE name = 'frozen'")
        // While it holds the lock, a locking read that must not wait is refused at once.
        try other.executeText("START TRANSACTION")
        #expect(throws: MySQLError.self) {
            try other.query("SELECT n FROM t WHERE name = 'frozen' FOR UPDATE NOWAIT")
        }
        try other.executeText("ROLLBACK")
        // The frozen client sends nothing more: within a few seconds the row is free again.
        var freed = false
        for _ in 0..<300 where !freed {
            usleep(100_000)
            try other.executeText("START TRANSACTION")
            freed = (try? other.query("SELECT n FROM t WHERE name = 'frozen' FOR UPDATE NOWAIT"))?.first?["n"].int == 0
            try other.executeText("ROLLBACK")
        }
        #expect(freed, "the frozen session's row lock outlived its idle bound")
        // Its transaction was rolled back, and the session is unusable: the next statement says so.
        #expect(throws: MySQLError.self) { try frozen.execute("UPDATE t SET n = 2 WHERE name = 'frozen'") }
        #expect(frozen.isBroken)
        #expect(try db.query("SELECT n FROM t WHERE name = 'frozen'", consistency: .primary).first?["n"].int == 0)
    }

    @Test func poolExhaustionTimesOutWithTheDocumentedError() async throws {
        let small = try IntegrationEnvironment.database(
            Self.name, options: ["pool_max": "2", "acquire_timeout": "0.3"])
        defer { small.close() }
        let first = try small.primary.acquire()
        let second = try small.primary.acquire()
        do {
            _ = try small.primary.acquire()
            Issue.record("a third connection was handed out by a pool of two")
        } catch {
            #expect(error.kind == .poolExhausted)
            #expect(error.description.contains("no connection became free within 0.3 s (pool_max=2, all in use)"))
            #expect(error.description.contains(small.primary.endpoint.node))
        }
        small.primary.release(first)
        // A waiting caller gets the connection as soon as one is released.
        let waiter = Task.detached { try await onThread { try small.primary.withConnection { _ in true } } }
        try await Task.sleep(for: .milliseconds(50))
        small.primary.release(second)
        #expect(try await waiter.value)
    }

    @Test func sixteenThreadsLeakAndDoubleNothing() async throws {
        let pool = try IntegrationEnvironment.database(Self.name, options: ["pool_max": "8", "acquire_timeout": "30"])
        defer { pool.close() }
        let leased = Mutex<Set<ObjectIdentifier>>([])
        let doubled = Atomic<Int>(0)
        let wrong = Atomic<Int>(0)
        let iterations = 2000
        try await onThreads(16) { thread in
            for i in 0..<iterations {
                try pool.primary.withConnection { c in
                    let id = ObjectIdentifier(c)
                    if !leased.withLock({ $0.insert(id).inserted }) { doubled.add(1, ordering: .relaxed) }
                    defer { _ = leased.withLock { $0.remove(id) } }
                    let value = Int64(thread * 1_000_000 + i)
                    if try c.query("SELECT ? AS v", [.int(value)]).first?["v"].int != Int(value) {
                        wrong.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        #expect(doubled.load(ordering: .relaxed) == 0)
        #expect(wrong.load(ordering: .relaxed) == 0)
        let stats = pool.primary.statistics
        #expect(stats.leased == 0)
        #expect(stats.open == stats.idle)
        #expect(stats.open <= 8)
        #expect(stats.created - stats.discarded == stats.open)
    }

    @Test func errorsAreTypedAndNameTheNodeButNotTheParameters() throws {
        do {
            try db.execute("INSRT INTO t (name) VALUES (?)", ["secret-value"])
            Issue.record("a bad statement succeeded")
        } catch {
            #expect(error.kind == .badStatement)
            #expect(error.description.contains(db.primary.endpoint.node))
            #expect(error.description.contains("INSRT INTO t (name)"))
        }
        try db.execute("INSERT INTO t (name) VALUES (?)", ["taken-secret"])
        do {
            try db.execute("INSERT INTO t (name) VALUES (?)", ["taken-secret"])
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.kind == .constraintViolated)
            #expect(error.code == 1062)
            #expect(!error.description.contains("taken-secret"))
            #expect(error.description.contains("Duplicate entry '…' for key 'name'"))
        }
        do {
            _ = try db.query("SELECT nope FROM t", consistency: .primary)
            Issue.record("an unknown column was accepted")
        } catch {
            #expect(error.kind == .badStatement)
        }
    }

    @Test(.enabled(if: IntegrationEnvironment.hasReplica)) func aReadOnlyNodeIsNotSentWritesAgain() throws {
        // Point a Database's primary at the replica, which runs with read_only=1.
        let endpoint = try IntegrationEnvironment.endpoint(IntegrationEnvironment.replicaURL!, database: Self.name)
        let misconfigured = try Database(primary: endpoint, logger: IntegrationEnvironment.logger)
        defer { misconfigured.close() }
        do {
            try misconfigured.execute("INSERT INTO t (name) VALUES ('ro')")
            Issue.record("the replica accepted a write")
        } catch {
            #expect(error.kind == .readOnly)
            #expect(error.code == 1290)
        }
        let sentBefore = try misconfigured.primary.withConnection { c in
            try c.query("SHOW SESSION STATUS LIKE 'Com_stmt_execute'").first?["Value"].int ?? 0
        }
        do {
            try misconfigured.execute("INSERT INTO t (name) VALUES ('ro-again')")
            Issue.record("the replica accepted a write")
        } catch {
            #expect(error.kind == .readOnly)
            #expect(error.message.contains("writes are refused until it accepts them again"))
        }
        let sentAfter = try misconfigured.primary.withConnection { c in
            try c.query("SHOW SESSION STATUS LIKE 'Com_stmt_execute'").first?["Value"].int ?? 0
        }
        // Only the status query itself ran on that connection: the INSERT was never sent.
        #expect(sentAfter - sentBefore == 1)
    }

    @Test func aConnectionIsReplacedOnceItsLifetimeIsOver() throws {
        let short = try IntegrationEnvironment.database(Self.name, options: ["max_lifetime": "0.3"], replicas: false)
        defer { short.close() }
        let session = { try short.query("SELECT CONNECTION_ID() AS id", consistency: .primary).first?["id"].int }
        let first = try session()
        #expect(try session() == first)
        Thread.sleep(forTimeInterval: 0.4)
        #expect(try session() != first)
        #expect(short.primary.statistics.created == 2)
        #expect(short.primary.statistics.discarded == 1)
    }

    @Test func largeResultsStreamRowByRow() throws {
        try db.execute("CREATE TABLE IF NOT EXISTS big (id INT PRIMARY KEY)")
        try db.execute(
            "INSERT INTO big (id) SELECT seq FROM seq_1_to_50000")
        var count = 0
        var sum = 0
        try db.stream("SELECT id FROM big ORDER BY id", consistency: .primary) { row in
            count += 1
            sum += row["id"].int ?? 0
        }
        #expect(count == 50_000)
        #expect(sum == 50_000 * 50_001 / 2)
        // The connection is clean afterwards.
        #expect(try db.query("SELECT COUNT(*) AS n FROM big", consistency: .primary).first?["n"].int == 50_000)
    }

    @Test func aTransactionThatThrowsRollsBack() throws {
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.transaction { c in
                try c.execute("INSERT INTO t (name) VALUES ('rolled-back')")
                throw Stop()
            }
        }
        #expect(
            try db.query("SELECT COUNT(*) AS n FROM t WHERE name = 'rolled-back'", consistency: .primary).first?["n"]
                .int == 0)
    }
}
