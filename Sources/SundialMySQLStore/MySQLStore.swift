import CoreMetrics
import Foundation
import Logging
import SundialCore
import SundialMySQL
import Synchronization

/// The data mapper over MySQL and MariaDB: `cron`, `cron_run` and `cron_executor`, behind the
/// store protocols (`ClaimStore`, `ExecutorRegistry`, `TaskCatalog`, `RunRetention`).
///
/// The only module besides the driver that speaks SQL. Every time comes from the server's
/// clock (`NOW(6)`); every write after a claim is fenced by its token; calls block the calling
/// thread (run them on threads you own). Works on MySQL 8.0+ and MariaDB 10.6+ (`SKIP LOCKED`).
public final class MySQLStore: Sendable {
    public let database: Database
    /// Lease renewals only, on connections of their own: a busy pool or a lock held elsewhere
    /// must never delay them.
    let leases: Database
    let logger: Logger
    /// Where the count-based run pruning goes on (a task id), so each call looks at new tasks.
    let pruneCursor = Mutex<Int64>(0)
    /// The last run id the age rule examined (0: start again from the oldest).
    let ageCursor = Mutex<Int64>(0)
    /// `sundial_db_errors_total{kind}`, by `StoreError.Kind`.
    let errorCounters: [String: Counter]
    /// Where the plans of the queries people wait for go, when a test asks for them.
    let plans: QueryPlans?

    /// `metrics`: where database errors are counted (the bootstrapped system's by default).
    /// `plans`: when given, each query of the console and the API is explained first, its plan
    /// kept there (for tests).
    public init(
        database: Database, logger: Logger, metrics: (any MetricsFactory)? = nil, plans: QueryPlans? = nil
    ) {
        self.plans = plans
        self.database = database
        self.leases = Database(sharingPrimaryOf: database, logger: logger)
        self.logger = logger
        let factory = metrics ?? MetricsSystem.factory
        errorCounters = Dictionary(
            uniqueKeysWithValues: StoreError.Kind.allCases.map {
                (
                    $0.label,
                    Counter(label: "sundial_db_errors_total", dimensions: [("kind", $0.label)], factory: factory)
                )
            })
    }

    /// Opens the primary (and replicas) from URLs, as given in `SUNDIAL_DATABASE_URL` and
    /// `SUNDIAL_REPLICA_URLS`. Throws a readable message for a bad URL.
    public convenience init(url: String, replicaURLs: [String] = [], logger: Logger) throws(StoreError) {
        do {
            self.init(database: try Database(url: url, replicaURLs: replicaURLs, logger: logger), logger: logger)
        } catch {
            throw StoreError(.invalid, error.message)
        }
    }

    /// Opens the minimum number of connections now, so that a wrong URL or password shows at start.
    public func prewarm() throws(StoreError) {
        try mapped { try database.prewarm() }
    }

    public func close() {
        database.close()
        leases.close()
    }
}

extension MySQLStore {
    /// Runs `body`, translating the driver's errors into `StoreError`s.
    func mapped<T>(_ body: () throws -> T) throws(StoreError) -> T {
        let failure: StoreError
        do {
            return try body()
        } catch let error as StoreError {
            failure = error
        } catch let error as MySQLError {
            failure = StoreError(error)
        } catch {
            failure = StoreError(.unavailable, "\(error)")
        }
        errorCounters[failure.kind.label]?.increment()
        throw failure
    }

    /// A query people wait for (a listing, a page): explained first when plans are asked for.
    func read(
        _ sql: String, _ values: [MySQLValue] = [], consistency: ReadConsistency = .replica
    ) throws -> [MySQLRow] {
        if let plans { plans.record(sql, try database.query("EXPLAIN " + sql, values, consistency: consistency)) }
        return try database.query(sql, values, consistency: consistency)
    }

    /// `NOW(6)` on the primary.
    func databaseNow(_ c: MySQLConnection) throws -> Date {
        guard let now = try c.query("SELECT NOW(6) AS now").first?["now"].date else {
            throw StoreError(.unavailable, "the database returned no time")
        }
        return now
    }
}

extension StoreError {
    /// What a driver error means to a caller.
    init(_ error: MySQLError) {
        let kind: Kind
        switch error.kind {
        case .retryLater:
            if error.isTransactionConflict {
                kind = .conflict
            } else if error.certainlyNotExecuted {
                kind = .unavailable
            } else if error.isConnectionBroken {
                kind = .outcomeUnknown
            } else {
                kind = .unavailable
            }
        case .poolExhausted, .refused: kind = .unavailable
        case .readOnly: kind = .readOnly
        case .outcomeUnknown: kind = .outcomeUnknown
        case .constraintViolated: kind = error.code == 1062 ? .invalid : .rejected
        case .badStatement: kind = .rejected
        }
        self.init(kind, error.description)
    }
}

extension Database {
    /// A second pool on the same primary, with the same settings (no replicas).
    convenience init(sharingPrimaryOf other: Database, logger: Logger) {
        // The endpoint was accepted once, so it is accepted again.
        try! self.init(primary: other.primary.endpoint, replicas: [], logger: logger)
    }
}

/// `IN (…)` lists padded to a power of two (the last value repeated), so that a statement is
/// prepared once per size class instead of once per length.
enum InList {
    static func padded<T>(_ values: [T]) -> [T] {
        guard let last = values.last else { return values }
        var size = 1
        while size < values.count { size *= 2 }
        return values + Array(repeating: last, count: size - values.count)
    }

    static func placeholders(_ count: Int) -> String {
        "(" + Array(repeating: "?", count: count).joined(separator: ", ") + ")"
    }
}
