import Foundation
import SundialCore
import SundialMySQL
import SundialMySQLStore
import SundialTesting
import Synchronization
import Testing

/// Claims through the three nodes of a Galera cluster at once. `SKIP LOCKED` and row locks are a
/// node's own: two nodes may hand the same row to two executors, and only certification at COMMIT
/// decides. The loser's claim must be rolled back and made again, never handed to its executor.
@Suite(.serialized, .enabled(if: ClusterEnvironment.hasGalera, "needs SUNDIAL_TEST_GALERA_URL_1..3"))
struct GaleraClaimTests {
    static let name = "sundial_test_galera_claims"

    @Test func executorsOnThreeNodesNeverClaimTheSameRow() throws {
        let setup = try ClusterEnvironment.migratedDatabase(Self.name, on: ClusterEnvironment.galeraURLs[0])
        let due = 600
        try setup.execute(
            """
            INSERT INTO cron (name, action, next_run, fire_at) \
            SELECT CONCAT('due-', seq), 'noop', NOW(6) - INTERVAL 1 MINUTE, NOW(6) - INTERVAL 1 MINUTE \
            FROM seq_1_to_\(due)
            """)
        setup.close()
        let stores = try ClusterEnvironment.galeraURLs.map { url in
            MySQLStore(
                database: try Database(
                    primary: try ClusterEnvironment.url(url, database: Self.name), logger: IntegrationEnvironment.logger
                ),
                logger: IntegrationEnvironment.logger)
        }
        defer { stores.forEach { $0.close() } }
        let claimed = Mutex<[Int64: [String]]>([:])
        let errors = Mutex<[String]>([])
        // Two claiming threads per node, small claims, until the table has nothing due.
        DispatchQueue.concurrentPerform(iterations: 6) { i in
            let store = stores[i % 3]
            let executor = "node\(i % 3 + 1)-\(i)"
            var empty = 0
            while empty < 3 {
                do {
                    let batch = try store.claim(
                        ClaimRequest(
                            token: .random(), executor: executor, actions: ["noop"], tags: [], limit: 7,
                            lookahead: .zero))
                    if batch.rows.isEmpty { empty += 1 }
                    claimed.withLock { all in
                        for row in batch.rows { all[row.id, default: []].append(executor) }
                    }
                } catch let error as StoreError where error.kind == .conflict {
                    // Lost certification more often than the retries allow: nothing was claimed.
                    continue
                } catch {
                    errors.withLock { $0.append("\(error)") }
                    return
                }
            }
        }
        #expect(errors.withLock { $0 } == [])
        let all = claimed.withLock { $0 }
        #expect(all.count == due)
        #expect(all.filter { $0.value.count > 1 }.isEmpty, "rows handed to two executors")
        // The rows say the same: each held by the executor that was told it has it.
        let check = try Database(
            primary: try ClusterEnvironment.url(ClusterEnvironment.galeraURLs[1], database: Self.name),
            logger: IntegrationEnvironment.logger)
        defer { check.close() }
        let holders = try check.query("SELECT id, claimed_by FROM cron", consistency: .primary)
        #expect(holders.allSatisfy { all[Int64($0["id"].int ?? 0)] == [$0["claimed_by"].string ?? ""] })
    }
}
