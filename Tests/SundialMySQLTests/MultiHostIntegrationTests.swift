import Foundation
import SundialMySQL
import SundialTesting
import Synchronization
import Testing

/// Several hosts in one URL, against the development failover pair (a primary `a` and its
/// semi-synchronous replica `b`) and the Galera cluster of `deploy/dev/devcluster`.
@Suite(.serialized, .enabled(if: ClusterEnvironment.hasFailoverPair, "needs SUNDIAL_TEST_FAILOVER_URL"))
struct MultiHostIntegrationTests {
    static let name = "sundial_test_multihost"

    /// The pair's URL with the replica first: the pool must pass over it for writes.
    func replicaFirst() throws -> MySQLEndpoint {
        var endpoint = try ClusterEnvironment.url(ClusterEnvironment.failoverURL!, database: Self.name)
        endpoint.addresses.reverse()
        return endpoint
    }

    func freshTable() throws {
        let db = try ClusterEnvironment.migratedDatabase(Self.name, on: ClusterEnvironment.failoverURL!)
        defer { db.close() }
        try db.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    }

    @Test func writesFindTheWritableHostWhateverTheOrder() throws {
        try freshTable()
        let endpoint = try replicaFirst()
        let db = try Database(primary: endpoint, logger: IntegrationEnvironment.logger)
        defer { db.close() }
        try db.execute("INSERT INTO t VALUES (1)")
        try db.transaction { c in try c.execute("INSERT INTO t VALUES (2)") }
        // The primary is the URL's second host.
        #expect(db.primary.current.node == endpoint.nodes[1].node)
        #expect(try db.query("SELECT COUNT(*) AS n FROM t", consistency: .primary).first?["n"].int == 2)
    }

    @Test func withNoWritableHostWritesFailFastAndResumeByThemselves() throws {
        try freshTable()
        let db = try Database(primary: try replicaFirst(), logger: IntegrationEnvironment.logger)
        defer { db.close() }
        try db.execute("INSERT INTO t VALUES (1)")
        try ClusterEnvironment.rootSQL("a", "SET GLOBAL read_only = 1")
        defer { try? ClusterEnvironment.rootSQL("a", "SET GLOBAL read_only = 0") }
        // The first write meets the read-only primary, looks at every host, and finds none writable.
        #expect {
            try db.execute("INSERT INTO t VALUES (2)")
        } throws: { ($0 as? MySQLError)?.kind == .readOnly }
        // Now writes are refused without being sent, with a message that says why.
        #expect {
            try db.transaction { c in try c.execute("INSERT INTO t VALUES (3)") }
        } throws: { ($0 as? MySQLError)?.message.contains("no node accepts writes") == true }
        // Reads still work, from whichever host answers.
        #expect(try db.query("SELECT COUNT(*) AS n FROM t", consistency: .primary).first?["n"].int == 1)
        try ClusterEnvironment.rootSQL("a", "SET GLOBAL read_only = 0")
        // Asked again within a second or so: writes resume without any restart.
        var resumed = false
        for _ in 0..<50 where !resumed {
            resumed = (try? db.execute("INSERT INTO t VALUES (4)")) != nil
            if !resumed { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(resumed)
        #expect(try db.query("SELECT id FROM t ORDER BY id", consistency: .primary).map { $0["id"].int } == [1, 4])
    }

    @Test func aPromotedReplicaIsFoundAndTheOldPrimaryLeftAlone() throws {
        try freshTable()
        let db = try Database(primary: try replicaFirst(), logger: IntegrationEnvironment.logger)
        defer { db.close() }
        try db.execute("INSERT INTO t VALUES (1)")
        // A failover without the crash: the primary stops taking writes and the replica takes them.
        // The replica's own writes go to a GTID domain of their own, so that replication from `a`
        // carries on afterwards as if nothing had happened.
        try ClusterEnvironment.rootSQL("a", "SET GLOBAL read_only = 1")
        try ClusterEnvironment.rootSQL("b", "SET GLOBAL gtid_domain_id = 7; SET GLOBAL read_only = 0")
        defer {
            try? ClusterEnvironment.rootSQL("b", "SET GLOBAL read_only = 1; SET GLOBAL gtid_domain_id = 0")
            try? ClusterEnvironment.rootSQL("a", "SET GLOBAL read_only = 0")
        }
        var moved = false
        for _ in 0..<50 where !moved {
            moved = (try? db.execute("INSERT INTO t VALUES (2)")) != nil
            if !moved { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(moved)
        #expect(db.primary.current.node == (try replicaFirst()).nodes[0].node)
    }
}

/// Galera: executors on different nodes of one cluster.
@Suite(.serialized, .enabled(if: ClusterEnvironment.hasGalera, "needs SUNDIAL_TEST_GALERA_URL_1..3"))
struct GaleraIntegrationTests {
    static let name = "sundial_test_galera"

    /// Two transactions on two nodes change the same row at the same time: one loses at COMMIT (a
    /// certification failure, reported as a deadlock) and is run again; both changes are kept.
    @Test func aCertificationFailureAtCommitIsRetriedLikeADeadlock() throws {
        let setup = try ClusterEnvironment.migratedDatabase(Self.name, on: ClusterEnvironment.galeraURLs[0])
        try setup.execute("CREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL)")
        try setup.execute("INSERT INTO counter VALUES (1, 0)")
        setup.close()
        let nodes = try ClusterEnvironment.galeraURLs.prefix(2).map {
            try Database(
                primary: try ClusterEnvironment.url($0, database: Self.name), logger: IntegrationEnvironment.logger)
        }
        defer { nodes.forEach { $0.close() } }
        let attempts = Mutex([0, 0])
        let updated = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            do {
                try nodes[i].transaction { c in
                    let attempt = attempts.withLock {
                        $0[i] += 1; return $0[i]
                    }
                    try c.execute("UPDATE counter SET n = n + 1 WHERE id = 1")
                    // First attempts: both have changed the row before either commits.
                    if attempt == 1 {
                        updated[i].signal()
                        _ = updated[1 - i].wait(timeout: .now() + 10)
                    }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let check = try Database(
            primary: try ClusterEnvironment.url(ClusterEnvironment.galeraURLs[2], database: Self.name),
            logger: IntegrationEnvironment.logger)
        defer { check.close() }
        // Read on the third node, which waits for the cluster (wsrep_sync_wait): both increments.
        #expect(try check.query("SELECT n FROM counter", consistency: .primary).first?["n"].int == 2)
        #expect(attempts.withLock { $0.reduce(0, +) } == 3)
    }

    /// g1 leaves the cluster's primary component (isolated: it answers every statement with
    /// 1047): reads and writes of a pool whose URL names g1 and g2 move to g2 by themselves.
    @Test(.enabled(if: ClusterEnvironment.galeraTCPURL != nil))
    func aNodeOutsideThePrimaryComponentIsLeftForTheNext() throws {
        let setup = try ClusterEnvironment.migratedDatabase(Self.name, on: ClusterEnvironment.galeraURLs[0])
        try setup.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        setup.close()
        let endpoint = try ClusterEnvironment.url(ClusterEnvironment.galeraTCPURL!, database: Self.name)
        let db = try Database(primary: endpoint, logger: IntegrationEnvironment.logger)
        defer { db.close() }
        try db.execute("INSERT INTO t VALUES (1)")
        #expect(db.primary.current.node == endpoint.nodes[0].node)
        let g1 = try Database(
            primary: try ClusterEnvironment.url(ClusterEnvironment.galeraURLs[0], database: Self.name),
            logger: IntegrationEnvironment.logger)
        defer { g1.close() }
        func g1Ready() -> Bool {
            (try? g1.primary.withConnection { c in
                try c.query("SHOW STATUS LIKE 'wsrep_ready'").first?[1].string
            }) == "ON"
        }
        try ClusterEnvironment.rootSQL("g1", "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=1'")
        defer {
            try? ClusterEnvironment.rootSQL("g1", "SET GLOBAL wsrep_provider_options = 'gmcast.isolate=0'")
            // Back in the cluster before the next test.
            for _ in 0..<300 where !g1Ready() { Thread.sleep(forTimeInterval: 0.1) }
        }
        for _ in 0..<300 where g1Ready() { Thread.sleep(forTimeInterval: 0.1) }
        #expect(!g1Ready(), "g1 did not leave the primary component")
        // A read meets g1's refusal first and is answered by g2.
        #expect(try db.query("SELECT COUNT(*) AS n FROM t", consistency: .primary).first?["n"].int == 1)
        try db.execute("INSERT INTO t VALUES (2)")
        #expect(db.primary.current.node == endpoint.nodes[1].node)
    }
}
