import Metrics
import SundialMySQL

/// `sundial_db_pool_connections{pool,state}`: the connection pools' levels, read at each scrape
/// (a counter snapshot under the pool's lock: nothing waits on the database).
struct PoolMetrics: Sendable {
    private let pools: [(name: String, pool: ConnectionPool, idle: Gauge, leased: Gauge)]

    init(database: Database) {
        let named = [("primary", database.primary)] + database.replicas.enumerated().map { ("replica\($0)", $1) }
        pools = named.map { name, pool in
            (
                name, pool,
                Gauge(label: "sundial_db_pool_connections", dimensions: [("pool", name), ("state", "idle")]),
                Gauge(label: "sundial_db_pool_connections", dimensions: [("pool", name), ("state", "leased")])
            )
        }
    }

    func record() {
        for entry in pools {
            let statistics = entry.pool.statistics
            entry.idle.record(statistics.idle)
            entry.leased.record(statistics.leased)
        }
    }
}
