import Foundation
import SundialMySQL
import Synchronization

/// What MariaDB plans to do for the queries people wait for (the console's and the API's
/// listings, a task's page, the dashboard), when asked: each such query is explained first and
/// its plan kept here, so that a test can check that every one of them reads by an index.
public final class QueryPlans: Sendable {
    /// One table's step of one query's plan (`EXPLAIN`'s row).
    public struct Step: Sendable, Equatable {
        public var table: String
        /// `ALL` is a full scan; `index` reads a whole index; `range`, `ref`, `eq_ref`, `const` use one.
        public var type: String
        public var key: String?
        public var extra: String
    }

    private let plans = Mutex<[(sql: String, steps: [Step])]>([])

    public init() {}

    /// Every query explained so far, with its plan.
    public var all: [(sql: String, steps: [Step])] { plans.withLock { $0 } }

    func record(_ sql: String, _ rows: [MySQLRow]) {
        let steps = rows.map {
            Step(
                table: $0["table"].string ?? "", type: $0["type"].string ?? "", key: $0["key"].string,
                extra: $0["Extra"].string ?? "")
        }
        plans.withLock { $0.append((sql, steps)) }
    }
}
