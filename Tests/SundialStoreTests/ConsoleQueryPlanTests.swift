import Foundation
import SundialCore
import SundialMySQL
import SundialMySQLStore
import SundialTesting
import Testing

/// Every query behind the task list, the run list, a task's page and the dashboard reads by an
/// index: checked with MariaDB's own `EXPLAIN` on tables big enough for the optimizer to care.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase, "needs SUNDIAL_TEST_DATABASE_URL"))
struct ConsoleQueryPlanTests {
    @Test func everyQueryPeopleWaitForUsesAnIndex() throws {
        let db = try IntegrationEnvironment.migratedDatabase("sundial_test_query_plans")
        try db.execute(
            """
            INSERT INTO cron (name, action, schedule, next_run, status, tags, failing) \
            SELECT CONCAT('t-', seq), IF(seq % 3 = 0, 'shell', 'noop'), '*/5 * * * *', NOW(6) + INTERVAL seq SECOND, \
            ELT(1 + seq % 5, 'active', 'active', 'paused', 'done', 'invalid'), IF(seq % 7 = 0, 'etl,nightly', NULL), \
            seq % 101 = 0 FROM seq_1_to_20000
            """)
        try db.execute(
            """
            INSERT INTO cron_run (cron_id, scheduled_for, attempt, executor, task_id, started_at, finished_at, status) \
            SELECT 1 + seq % 20000, NOW(6) - INTERVAL (200000 - seq) SECOND, 0, CONCAT('e', seq % 4), 1, \
            NOW(6) - INTERVAL (200000 - seq) SECOND + INTERVAL 1 SECOND, NOW(6) - INTERVAL (200000 - seq) SECOND + INTERVAL 2 SECOND, \
            IF(seq % 50 = 0, 'failed', 'succeeded') FROM seq_1_to_200000
            """)
        try db.execute(
            "INSERT INTO cron_executor (id, host, pid, threads, started_at, heartbeat, lease_expires_at) SELECT CONCAT('e', seq), 'h', seq, 8, NOW(6), NOW(6), NOW(6) FROM seq_1_to_50"
        )
        for table in ["cron", "cron_run", "cron_executor"] { _ = try db.query("ANALYZE TABLE \(table)") }
        let plans = QueryPlans()
        let store = MySQLStore(database: db, logger: IntegrationEnvironment.logger, plans: plans)
        let now = try store.now()

        // The task list: by name, each filter, and a page further on.
        _ = try store.tasks(TaskFilter(), after: nil, limit: 51)
        _ = try store.tasks(TaskFilter(status: .paused), after: TaskCursor(token: "t-5000", order: .name), limit: 51)
        // Sorted by next run (active tasks by next run, then each status by name) and by last
        // result (failing, then the rest): from the top, with a status, and from cursors, two of
        // which read on into the next group.
        let micros = Int64(now.addingTimeInterval(5000).timeIntervalSince1970 * 1_000_000)
        _ = try store.tasks(TaskFilter(order: .nextRun), after: nil, limit: 51)
        _ = try store.tasks(TaskFilter(status: .active, order: .nextRun), after: nil, limit: 51)
        _ = try store.tasks(
            TaskFilter(order: .nextRun), after: TaskCursor(token: "0:\(micros):t-5000", order: .nextRun), limit: 51)
        _ = try store.tasks(
            TaskFilter(order: .nextRun), after: TaskCursor(token: "1:-:t-5000", order: .nextRun), limit: 51)
        _ = try store.tasks(TaskFilter(order: .lastResult), after: nil, limit: 51)
        _ = try store.tasks(
            TaskFilter(order: .lastResult), after: TaskCursor(token: "0:-:t-9999", order: .lastResult), limit: 51)
        _ = try store.tasks(TaskFilter(search: "t-19"), after: nil, limit: 51)
        _ = try store.tasks(TaskFilter(status: .paused, search: "t-9"), after: nil, limit: 51)
        _ = try store.tasks(TaskFilter(action: "shell", anyTags: ["etl"]), after: nil, limit: 51)
        // The run list: every filter alone and together, and a page further on.
        let day = now.addingTimeInterval(-86_400)
        _ = try store.runs(RunFilter(), before: nil, limit: 51)
        _ = try store.runs(RunFilter(status: .failed), before: 150_000, limit: 51)
        _ = try store.runs(RunFilter(taskID: 42), before: nil, limit: 51)
        _ = try store.runs(RunFilter(executor: "e2"), before: nil, limit: 51)
        _ = try store.runs(RunFilter(since: day), before: nil, limit: 51)
        _ = try store.runs(RunFilter(status: .failed, since: day, anyTags: ["etl"]), before: nil, limit: 51)
        _ = try store.run(id: 1234)
        // A task's page.
        _ = try store.task(named: "t-4242")
        _ = try store.runs(ofTask: 4242, limit: 20)
        // The dashboard.
        _ = try store.taskCounts()
        _ = try store.failingTasks(anyTags: nil, limit: 20)
        _ = try store.nextFires(anyTags: ["etl"], limit: 20)
        _ = try store.runOutcomes(from: day, to: now, bucket: .seconds(3600))
        _ = try store.startLags(since: now.addingTimeInterval(-3600), sample: 10_000)
        _ = try store.executors()
        _ = try store.dueBacklog(cap: 10_000)

        // Twenty-seven calls; the two listings by period find their first id first; two sorted
        // pages read on into a next group.
        #expect(plans.all.count == 31)
        for (sql, steps) in plans.all {
            // Not tables: a derived table's few rows (`<derived2>`), a select of subqueries ("").
            // `cron_executor` holds a few hundred rows at most (pruned a day after they stop).
            for step in steps where !step.table.hasPrefix("<") && !step.table.isEmpty && step.table != "cron_executor" {
                // A whole-table scan, or a sort of what it found, is what must not happen.
                #expect(step.type != "ALL", "full scan of \(step.table): \(sql)")
                #expect(step.key != nil, "no index on \(step.table): \(sql)")
                #expect(!step.extra.contains("Using filesort"), "sorts \(step.table): \(sql)")
            }
        }
    }
}
