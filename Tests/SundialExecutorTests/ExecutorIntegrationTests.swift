import Foundation
import SundialActions
import SundialCore
import SundialExecutor
import SundialMySQL
import SundialMySQLStore
import SundialTesting
import Testing

/// One in-process executor against a real MariaDB.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase, "needs SUNDIAL_TEST_DATABASE_URL"))
struct ExecutorIntegrationTests {
    let db: Database

    init() throws {
        db = try IntegrationEnvironment.migratedDatabase("sundial_test_executor")
    }

    @Test func usersInsertsRunAndBadRowsBecomeInvalidWithoutHarm() throws {
        // A row with an action no executor runs waits (active, unclaimed) instead of becoming
        // invalid: a later deploy may add the handler.
        try db.execute(
            """
            INSERT INTO cron (name, action, payload, schedule) VALUES
              ('nightly', 'shell', '{"command":"/opt/report.sh"}', '0 3 * * *'),
              ('bad-cron', 'noop', NULL, '0 0 30 2 *'),
              ('bad-json', 'shell', '{"command":', NULL),
              ('bad-action', 'frobnicate', NULL, NULL),
              ('bad-zone', 'noop', NULL, NULL),
              ('bad-payload', 'sleep', '{"seconds":"soon"}', NULL)
            """)
        try db.execute("UPDATE cron SET timezone = 'Mars/Base' WHERE name = 'bad-zone'")
        try db.execute("INSERT INTO cron (name, action) VALUES ('once', 'noop')")
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'once' AND status = 'done'") == 1 })
        #expect(try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE status = 'invalid'") == 4 })
        let errors = Dictionary(
            uniqueKeysWithValues: try db.query(
                "SELECT name, error FROM cron WHERE status = 'invalid'", consistency: .primary
            )
            .map { ($0["name"].string!, $0["error"].string!) })
        #expect(errors["bad-cron"]?.hasPrefix("schedule: the expression can never fire") == true)
        #expect(errors["bad-json"] == "payload is not a JSON object")
        #expect(errors["bad-action"] == nil)
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron WHERE name = 'bad-action' AND status = 'active' AND task_id IS NULL") == 1)
        #expect(errors["bad-zone"] == "unknown time zone 'Mars/Base'")
        #expect(errors["bad-payload"] == "payload: seconds has the wrong type")
        // The scheduled row got its first fire, at 03:00 UTC, within a heartbeat (the same pass
        // that marks bad-cron invalid, so it may land just after it).
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'nightly' AND next_run IS NOT NULL") == 1
            })
        let next = try #require(
            try db.query("SELECT next_run FROM cron WHERE name = 'nightly'", consistency: .primary).first?["next_run"]
                .date)
        #expect(Int(next.timeIntervalSince1970) % 86_400 == 3 * 3600)
        // The executor is unharmed: more work still runs.
        try db.execute("INSERT INTO cron (name, action) VALUES ('after', 'noop')")
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'after' AND status = 'done'") == 1 })
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'once' AND r.status = 'succeeded'"
            ) == 1)
    }

    @Test func retriesBackOffExponentiallyThenTheTaskIsDead() throws {
        try db.execute(
            "INSERT INTO cron (name, action, payload, max_attempts, backoff_seconds) VALUES ('flaky', 'fail', '{\"message\":\"boom\"}', 4, 0.4)"
        )
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'flaky' AND status = 'dead'") == 1 })
        let starts = try db.query(
            "SELECT r.started_at, r.attempt, r.status, r.error FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'flaky' ORDER BY r.attempt",
            consistency: .primary)
        #expect(starts.map { $0["attempt"].int } == [0, 1, 2, 3])
        #expect(starts.allSatisfy { $0["status"] == "failed" && $0["error"] == "boom" })
        let times = starts.compactMap { $0["started_at"].date }
        let gaps = zip(times.dropFirst(), times).map { $0.timeIntervalSince($1) }
        // Waits are 0.4 × 2^(n-1) seconds, scaled by a jitter between ½ and 1.
        #expect(gaps[0] >= 0.2)
        #expect(gaps[2] >= 0.8)
        #expect(gaps[2] > gaps[0])
        #expect(
            try db.query("SELECT error FROM cron WHERE name = 'flaky'", consistency: .primary).first?["error"] == "boom"
        )
    }

    /// Runs say what started them: a run now names who asked, on its attempt and its retries;
    /// the schedule's fires name nobody.
    @Test func runsSayWhetherTheScheduleARetryOrSomeonesRunNowStartedThem() throws {
        try db.execute(
            "INSERT INTO cron (name, action, payload, schedule, next_run, max_attempts, backoff_seconds) VALUES ('asked', 'fail', '{\"message\":\"no\"}', '@every 2s', NOW(6) + INTERVAL 1 HOUR, 2, 0.2)"
        )
        let store = MySQLStore(database: db, logger: IntegrationEnvironment.logger)
        let id = try #require(try store.task(named: "asked")).id
        #expect(try store.runNow(taskID: id, requester: "alice"))
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        // The run now's two attempts, then at least one fire of the schedule (every 2 s).
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron_run WHERE cron_id = \(id) AND status <> 'running'") >= 3
            })
        let runs = try store.runs(RunFilter(taskID: id), before: nil, limit: 10).sorted { $0.id < $1.id }
        #expect(runs.prefix(2).map(\.startedBy) == ["run now by alice", "retry of a run now by alice"])
        #expect(runs.dropFirst(2).allSatisfy { $0.requestedBy == nil && $0.startedBy != "run now by alice" })
    }

    @Test func aRowDeletedOrEditedWhileItRunsIsNeverResurrectedOrOverwritten() throws {
        try db.execute(
            """
            INSERT INTO cron (name, action, payload, schedule) VALUES
              ('to-delete', 'sleep', '{"seconds":3}', NULL),
              ('to-edit', 'sleep', '{"seconds":2}', '* * * * * *'),
              ('to-pause', 'sleep', '{"seconds":2}', '* * * * * *')
            """)
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(try db.waitFor { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'") == 3 })
        try db.execute("DELETE FROM cron WHERE name = 'to-delete'")
        try db.execute("UPDATE cron SET schedule = '0 0 1 1 *' WHERE name = 'to-edit'")
        try db.execute("UPDATE cron SET status = 'paused' WHERE name = 'to-pause'")
        #expect(try db.waitFor { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'") == 0 })
        #expect(try db.count("SELECT COUNT(*) FROM cron WHERE name = 'to-delete'") == 0)
        #expect(
            try db.waitFor {
                let row = try db.query(
                    "SELECT schedule, next_run FROM cron WHERE name = 'to-edit'", consistency: .primary
                ).first
                guard let next = row?["next_run"].date else { return false }
                // The new schedule's fire (1 January), not the old every-second one.
                return row?["schedule"] == "0 0 1 1 *" && next.timeIntervalSinceNow > 86_400
            })
        #expect(
            try db.query("SELECT status FROM cron WHERE name = 'to-pause'", consistency: .primary).first?["status"]
                == "paused")
        // The history of all three stays.
        #expect(try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") >= 3)
    }

    @Test func aFireClaimedAheadIsNotStartedOnceItsRowIsPausedOrDeleted() throws {
        // Quick every-second tasks, known to be quick (last_duration): claimed ahead of their fires.
        try db.execute(
            """
            INSERT INTO cron (name, action, schedule, last_duration) VALUES
              ('ahead-paused', 'noop', '* * * * * *', 0.001), ('ahead-deleted', 'noop', '* * * * * *', 0.001)
            """)
        let harness = try ExecutorHarness(db: db) { $0.lookahead = .milliseconds(900) }
        defer { harness.stop() }
        #expect(try db.waitFor { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") >= 4 })
        // Changed while claimed, well before the fire the claim is for.
        var fires: [String: (id: Int64, fire: Date)] = [:]
        for (name, change) in [
            ("ahead-paused", "UPDATE cron SET status = 'paused'"), ("ahead-deleted", "DELETE FROM cron"),
        ] {
            #expect(
                try db.waitFor {
                    guard
                        let row = try db.query(
                            "SELECT id, next_run FROM cron WHERE name = ? AND task_id IS NOT NULL AND next_run > NOW(6) + INTERVAL 0.2 SECOND",
                            [.string(name)], consistency: .primary
                        ).first, let id = row["id"].int, let next = row["next_run"].date
                    else { return false }
                    let changed = try db.execute(
                        "\(change) WHERE name = ? AND task_id IS NOT NULL AND next_run = ? AND next_run > NOW(6) + INTERVAL 0.15 SECOND",
                        [.string(name), .date(next)]
                    ).affectedRows
                    if changed == 1 { fires[name] = (Int64(id), next) }
                    return changed == 1
                })
        }
        Thread.sleep(forTimeInterval: 1.5)
        #expect(fires.count == 2)
        for (name, claimed) in fires {
            #expect(
                try db.count(
                    "SELECT COUNT(*) FROM cron_run WHERE cron_id = ? AND scheduled_for >= ?",
                    [.int(claimed.id), .date(claimed.fire)]) == 0, "\(name): its claimed fire ran")
        }
        // The paused row's claim was given back; resumed, it goes on.
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'ahead-paused' AND task_id IS NULL") == 1
            })
    }

    @Test func aRunningShellJobsOutputReachesItsRunRowWhileItRuns() throws {
        try db.execute(
            #"INSERT INTO cron (name, action, payload) VALUES ('talker', 'shell', '{"command":"for i in 1 2 3 4 5 6; do echo line $i; sleep 1; done"}')"#
        )
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        let running =
            "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'talker' AND r.status = 'running'"
        // While the job still runs, its output so far is on its run row, and it grows.
        #expect(
            try db.waitFor(8) {
                try db.count(running + " AND r.output LIKE '%line 2%'") == 1
            })
        let partial =
            try db.query("SELECT output FROM cron_run WHERE status = 'running'", consistency: .primary)
            .first?["output"].string ?? ""
        #expect(partial.hasPrefix("line 1\nline 2"))
        #expect(!partial.contains("line 6"))
        #expect(
            try db.waitFor(10) {
                try db.count(
                    "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'talker' AND r.status = 'succeeded'"
                ) == 1
            })
        let final = try db.query("SELECT output FROM cron_run WHERE status = 'succeeded'", consistency: .primary)
            .first?["output"].string
        #expect(final == (1...6).map { "line \($0)\n" }.joined())
    }

    @Test func killAndTimeoutStopRunsAndAreRecorded() throws {
        try db.execute(
            """
            INSERT INTO cron (name, action, payload, timeout_seconds) VALUES
              ('to-kill', 'shell', '{"command":"sleep 30"}', NULL),
              ('too-slow', 'sleep', '{"seconds":30}', 0.5)
            """)
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(
            try db.waitFor {
                try db.count(
                    "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'to-kill' AND r.status = 'running'"
                ) == 1
            })
        #expect(try harness.admin.kill("to-kill") == 1)
        #expect(
            try db.waitFor(5) {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'to-kill' AND status = 'dead'") == 1
            })
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'to-kill' AND r.status = 'killed'"
            ) == 1)
        #expect(
            try db.waitFor(5) {
                try db.count(
                    "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'too-slow' AND r.status = 'timed_out'"
                ) == 1
            })
        #expect(
            try db.query("SELECT status, error FROM cron WHERE name = 'too-slow'", consistency: .primary).first?[
                "error"] == "timed out after 0.5 s")
    }

    @Test func aTaskNeverOverlapsItselfByDefault() throws {
        try db.execute(
            "INSERT INTO cron (name, action, payload, schedule) VALUES ('slow-every-second', 'sleep', '{\"seconds\":1.5}', '* * * * * *')"
        )
        let harness = try ExecutorHarness(db: db) { $0.threads = 8 }
        Thread.sleep(forTimeInterval: 5)
        harness.stop()
        let runs = try db.query(
            "SELECT started_at, finished_at FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'slow-every-second' ORDER BY started_at",
            consistency: .primary)
        #expect(runs.count >= 2)
        for (earlier, later) in zip(runs, runs.dropFirst()) {
            #expect(later["started_at"].date! >= earlier["finished_at"].date!)
        }
    }

    @Test func aTaskMayAllowSeveralRunsAtOnceButNoMore() throws {
        try db.execute(
            "INSERT INTO cron (name, action, payload, schedule, max_concurrency) VALUES ('parallel', 'sleep', '{\"seconds\":2.5}', '* * * * * *', 2)"
        )
        let harness = try ExecutorHarness(db: db) { $0.threads = 8 }
        Thread.sleep(forTimeInterval: 6)
        harness.stop()
        let runs = try db.query(
            "SELECT started_at, finished_at FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'parallel'",
            consistency: .primary)
        var events: [(Date, Int)] = []
        for run in runs {
            events.append((run["started_at"].date!, 1))
            events.append((run["finished_at"].date ?? .distantFuture, -1))
        }
        var current = 0
        var most = 0
        for event in events.sorted(by: { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }) {
            current += event.1
            most = max(most, current)
        }
        #expect(most == 2, "at most two runs at once, and two did overlap")
        #expect(
            try db.query("SELECT running FROM cron WHERE name = 'parallel'", consistency: .primary).first?["running"]
                .int == 0)
    }

    @Test func anExecutorThatCannotRenewItsLeaseKillsItsRunsAndStopsClaiming() throws {
        let marker = "34.\(Int.random(in: 1000...9999))"
        try db.execute(
            "INSERT INTO cron (name, action, payload) VALUES ('held', 'shell', '{\"command\":\"sleep \(marker)\"}')")
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(try db.waitFor { processes(containing: marker) >= 2 })
        // Hold the executor's row so that its heartbeat blocks, as against a sick database.
        let blocker = try MySQLConnection(endpoint: db.primary.endpoint)
        defer { blocker.close() }
        try blocker.executeText("START TRANSACTION")
        _ = try blocker.query(
            "SELECT * FROM cron_executor WHERE id = ? FOR UPDATE", [.string(harness.executor.identity.id)])
        // 70 % of the 3 s lease later the run is killed, before any other executor could take over.
        #expect(try db.waitFor(10) { processes(containing: marker) == 0 })
        try db.execute("INSERT INTO cron (name, action) VALUES ('while-fenced', 'noop')")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(
            try db.count("SELECT COUNT(*) FROM cron WHERE name = 'while-fenced' AND status = 'done'") == 0,
            "claimed while fenced")
        try blocker.executeText("COMMIT")
        // Once the lease is renewed, work resumes: the killed fire runs again (at_least_once).
        #expect(
            try db.waitFor(10) {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'while-fenced' AND status = 'done'") == 1
            })
        #expect(try db.waitFor(10) { processes(containing: marker) >= 2 })
        let runs = try db.query(
            "SELECT r.attempt, r.status FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'held' ORDER BY r.attempt",
            consistency: .primary)
        #expect(runs.first?["status"] == "killed")
        #expect(runs.count == 2, "\(runs.map { "\($0["attempt"].int ?? -1) \($0["status"].string ?? "")" })")
        try harness.admin.kill("held")
    }

    /// A team's own handler, registered by action name, as when embedding the executor.
    struct Greeter: TaskHandler {
        struct Settings: Decodable { var who: String }
        func validate(payload: Data) throws {
            guard (try? JSONDecoder().decode(Settings.self, from: payload)) != nil else {
                throw TaskPayloadError("payload: who is missing")
            }
        }
        func run(_ context: RunContext) throws -> RunOutput {
            let settings = try JSONDecoder().decode(Settings.self, from: context.payload)
            return RunOutput(exitCode: 0, output: "hello \(settings.who), attempt \(context.attempt)")
        }
    }

    @Test func handlersRegisteredFromSwiftRunAndValidate() throws {
        try db.execute(
            "INSERT INTO cron (name, action, payload) VALUES ('greet', 'greet', '{\"who\":\"ops\"}'), ('greet-bad', 'greet', '{}')"
        )
        let harness = try ExecutorHarness(db: db, handlers: ["greet": Greeter()])
        defer { harness.stop() }
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'greet' AND status = 'done'") == 1 })
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'greet-bad' AND status = 'invalid'") == 1
            })
        #expect(
            try db.query("SELECT output FROM cron_run", consistency: .primary).first?["output"]
                == "hello ops, attempt 0")
        #expect(
            try db.query("SELECT error FROM cron WHERE name = 'greet-bad'", consistency: .primary).first?["error"]
                == "payload: who is missing")
    }

    /// Looks for its own `running` row in `cron_run` from inside the run, on a connection of its own.
    struct StartWitness: TaskHandler {
        let db: Database
        func validate(payload: Data) throws {}
        func run(_ context: RunContext) throws -> RunOutput {
            let seen = try db.query(
                "SELECT COUNT(*) AS n FROM cron_run WHERE cron_id = ? AND status = 'running'", [.int(context.taskID)],
                consistency: .primary
            ).first?["n"].int
            return RunOutput(output: "start on record: \(seen ?? -1)")
        }
    }

    @Test func anAtMostOnceRunStartsOnlyOnceItsStartIsOnRecord() throws {
        // (An at_least_once start is batched for up to 50 ms: without the durable write, the run
        // would not find its own row.)
        try db.execute(
            "INSERT INTO cron (name, action, delivery) VALUES ('once-only', 'witness-start', 'at_most_once')")
        let harness = try ExecutorHarness(db: db, handlers: ["witness-start": StartWitness(db: db)])
        defer { harness.stop() }
        #expect(try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE status = 'done'") == 1 })
        #expect(
            try db.query("SELECT output FROM cron_run", consistency: .primary).first?["output"] == "start on record: 1")
    }

    @Test func theLastRunsDurationIsKeptOnTheRow() throws {
        try db.execute("INSERT INTO cron (name, action, payload) VALUES ('nap', 'sleep', '{\"seconds\": 0.3}')")
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'nap' AND status = 'done'") == 1 })
        let duration = try db.query("SELECT last_duration FROM cron WHERE name = 'nap'", consistency: .primary)
            .first?["last_duration"].double
        #expect((duration ?? 0) >= 0.3)
    }

    @Test func tagsPlaceTasksOnMatchingExecutors() throws {
        try db.execute(
            "INSERT INTO cron (name, action, tags) VALUES ('gpu-only', 'noop', 'gpu,tpu'), ('anywhere', 'noop', NULL)")
        let plain = try ExecutorHarness(db: db)
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'anywhere' AND status = 'done'") == 1
            })
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try db.count("SELECT COUNT(*) FROM cron WHERE name = 'gpu-only' AND status = 'active'") == 1)
        plain.stop()
        let gpu = try ExecutorHarness(db: db) { $0.tags = ["gpu"] }
        defer { gpu.stop() }
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'gpu-only' AND status = 'done'") == 1
            })
    }

    @Test func theClaimUsesTheClaimIndex() throws {
        try db.execute(
            "INSERT INTO cron (name, action, next_run, status) SELECT CONCAT('filler-', seq), 'noop', NOW(6) + INTERVAL seq MINUTE, IF(seq % 10 = 0, 'paused', 'active') FROM seq_1_to_20000"
        )
        try db.execute("ANALYZE TABLE cron")
        let plan = try db.query(
            "EXPLAIN " + MySQLStoreSQL.claimCandidates(actions: 1, tags: 0),
            [.int(500_000), .string("noop"), .int(100)],
            consistency: .primary)
        #expect(plan.first?["key"] == "cron_claim")
        #expect(plan.first?["type"] == "range" || plan.first?["type"] == "ref")
        // Rows are read in index order: no sort of every due row before the LIMIT.
        #expect(plan.first?["Extra"].string?.contains("filesort") == false)
        // And the claim reads about a batch of rows, however many are due.
        try db.execute("UPDATE cron SET next_run = NOW(6) - INTERVAL 1 HOUR WHERE name LIKE 'filler-%'")
        let (claimed, readsAfter) = try db.primary.withConnection { c -> (Int, Int) in
            let before = try c.query("SHOW SESSION STATUS LIKE 'Handler_read_next'").first?["Value"].int ?? 0
            let n = try c.query(
                MySQLStoreSQL.claimCandidates(actions: 1, tags: 0), [.int(0), .string("noop"), .int(100)]
            ).count
            let after = try c.query("SHOW SESSION STATUS LIKE 'Handler_read_next'").first?["Value"].int ?? 0
            return (n, after - before)
        }
        #expect(claimed == 100)
        #expect(
            readsAfter < 1000, "the claim read \(readsAfter) index entries for a batch of 100 out of 18,000 due rows")
    }

    @Test func backgroundReadsReadAboutWhatTheyReturn() throws {
        // 20,000 finished one-shots and invalid rows, a few rows waiting for their first fire,
        // and one task with 5,000 runs: neither read goes through the rest.
        try db.execute(
            "INSERT INTO cron (name, action, schedule, status) SELECT CONCAT('old-', seq), 'noop', '@at 2020-01-01T00:00:00Z', IF(seq % 2 = 0, 'done', 'invalid') FROM seq_1_to_20000"
        )
        try db.execute(
            "INSERT INTO cron (name, action, schedule) SELECT CONCAT('new-', seq), 'noop', '* * * * *' FROM seq_1_to_5")
        let busy = try db.execute(
            "INSERT INTO cron (name, action, schedule, next_run) VALUES ('busy', 'noop', '* * * * *', NOW(6) + INTERVAL 1 DAY)"
        ).lastInsertID
        try db.execute(
            "INSERT INTO cron_run (cron_id, task_id, scheduled_for, attempt, executor, started_at, status) SELECT ?, 1, NOW(6) - INTERVAL seq MINUTE, 0, 'e', NOW(6) - INTERVAL seq MINUTE, 'succeeded' FROM seq_1_to_5000",
            [.int(Int64(busy))])
        try db.execute("ANALYZE TABLE cron, cron_run")
        func reads(_ sql: String, _ values: [MySQLValue]) throws -> (rows: Int, reads: Int, plan: String) {
            try db.primary.withConnection { c in
                let explain = try c.query("EXPLAIN " + sql, values)
                let plan = explain.map { "\($0["key"].string ?? "-") \($0["Extra"].string ?? "")" }.joined(
                    separator: "; ")
                let counters =
                    "SHOW SESSION STATUS WHERE Variable_name IN ('Handler_read_next', 'Handler_read_prev', 'Handler_read_rnd_next', 'Handler_read_key')"
                let before = try c.query(counters).reduce(0) { $0 + ($1["Value"].int ?? 0) }
                let rows = try c.query(sql, values).count
                let after = try c.query(counters).reduce(0) { $0 + ($1["Value"].int ?? 0) }
                return (rows, after - before, plan)
            }
        }
        let unscheduled = try reads(MySQLStoreSQL.unscheduledRows, [.int(100)])
        #expect(unscheduled.rows == 5)
        #expect(unscheduled.reads < 50, "read \(unscheduled.reads) entries for 5 rows: \(unscheduled.plan)")
        let history = try reads(MySQLStoreSQL.runsOfTask, [.int(Int64(busy)), .int(20)])
        #expect(history.rows == 20)
        #expect(!history.plan.contains("filesort"), "\(history.plan)")
        #expect(history.reads < 100, "read \(history.reads) entries for 20 runs: \(history.plan)")
    }

    @Test func hostileValuesInAnyColumnCrashNoExecutor() throws {
        // Each of these once trapped every executor that claimed it.
        try db.execute(
            """
            INSERT INTO cron (name, action, schedule, timeout_seconds, max_attempts, backoff_seconds) VALUES
              ('year-zero', 'noop', '@at 0000-01-01T00:30:00+01:00', 3600, 1, 10),
              ('huge-timeout', 'noop', NULL, 1e16, 1, 10),
              ('huge-backoff', 'fail', NULL, 3600, 3, 1e300),
              ('far-every', 'noop', '@every 99999999d', 3600, 1, 10)
            """)
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'huge-timeout' AND status = 'done'") == 1
            })
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'year-zero' AND status = 'invalid'") == 1
            })
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'far-every' AND status = 'invalid'") == 1
            })
        // The failing task's retry waits a year at most, within what the table holds.
        #expect(
            try db.waitFor {
                try db.count(
                    "SELECT COUNT(*) FROM cron WHERE name = 'huge-backoff' AND attempt = 1 AND next_run < NOW() + INTERVAL 367 DAY"
                ) == 1
            })
        try db.execute("INSERT INTO cron (name, action) VALUES ('after', 'noop')")
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'after' AND status = 'done'") == 1 })
    }

    @Test func aShellJobNeverSeesTheDatabasePassword() throws {
        setenv("SUNDIAL_DATABASE_URL", "mysql://u:secret-in-env@localhost/x", 1)
        setenv("MYSQL_PWD", "secret-in-mysql-pwd", 1)
        defer {
            unsetenv("SUNDIAL_DATABASE_URL")
            unsetenv("MYSQL_PWD")
        }
        try db.execute(#"INSERT INTO cron (name, action, payload) VALUES ('env', 'shell', '{"command":"env"}')"#)
        let harness = try ExecutorHarness(db: db)
        defer { harness.stop() }
        #expect(
            try db.waitFor { try db.count("SELECT COUNT(*) FROM cron WHERE name = 'env' AND status = 'done'") == 1 })
        let output = try db.query("SELECT output FROM cron_run", consistency: .primary).first?["output"].string ?? ""
        #expect(output.contains("SUNDIAL_TASK_NAME=env"))
        #expect(!output.contains("secret-in-env"))
        #expect(!output.contains("secret-in-mysql-pwd"))
    }

    @Test func aStoppedExecutorLeavesNothingClaimed() throws {
        // Many quick one-shots and some slow ones: stop lands mid-claim, mid-run and with work queued.
        try db.execute("INSERT INTO cron (name, action) SELECT CONCAT('quick-', seq), 'noop' FROM seq_1_to_3000")
        try db.execute(
            #"INSERT INTO cron (name, action, payload) SELECT CONCAT('slow-', seq), 'sleep', '{"seconds":0.3}' FROM seq_1_to_20"#
        )
        for round in 0..<3 {
            let harness = try ExecutorHarness(db: db) { $0.shutdownGrace = .seconds(5) }
            Thread.sleep(forTimeInterval: 0.05 + 0.1 * Double(round))
            harness.stop()
            #expect(try db.count("SELECT COUNT(*) FROM cron WHERE task_id IS NOT NULL") == 0, "round \(round)")
            #expect(try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'") == 0, "round \(round)")
        }
        // Nothing ran twice, and what did not run is still there to run.
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM (SELECT cron_id FROM cron_run WHERE status = 'succeeded' GROUP BY cron_id HAVING COUNT(*) > 1) d"
            ) == 0)
        #expect(
            try db.count("SELECT COUNT(*) FROM cron WHERE status = 'active'")
                == 3020 - (try db.count("SELECT COUNT(*) FROM cron WHERE status = 'done'")))
    }

    @Test func randomValuesInEveryColumnNeitherCrashNorStallTheExecutor() throws {
        // Values SQL accepts but a task should not have, in every column an executor reads.
        var random = SystemRandomNumberGenerator()
        let schedules = [
            "NULL", "''", "'* * * * * *'", "'@every 1s'", "'@every 99999999d'", "'@at 0000-01-01T00:30:00+01:00'",
            "'@at 9999-12-31T23:59:59Z'", "'0 0 30 2 *'", "REPEAT('*/1 ', 250)", "'🕐 * * * *'", "'@yearly'",
        ]
        let actions = ["'noop'", "'fail'", "'sleep'", "'frobnicate'", "''"]
        let payloads = [
            "NULL", "''", "'[]'", "'{\\\"seconds\\\": 1e308}'", "'{\\\"seconds\\\": 0.01}'", "REPEAT('{', 5000)",
        ]
        let numbers = ["0", "1", "-1", "1e16", "1e300", "-1e300", "2147483647", "NULL"]
        let dates = ["NULL", "'1000-01-01'", "'9999-12-31 23:59:59.999999'", "NOW(6)", "NOW(6) - INTERVAL 1 DAY"]
        let zones = ["'UTC'", "''", "'Mars/Base'", "'Europe/Paris'", "REPEAT('x', 64)"]
        var rows: [String] = []
        for i in 0..<200 {
            let pick = { (values: [String]) in values.randomElement(using: &random)! }
            let positive = { (fallback: String) -> String in
                let value = pick(numbers)
                return value == "NULL" ? fallback : "ABS(\(value))"
            }
            let timeout = pick(numbers)
            let columns = [
                "'fuzz-\(i)'", pick(actions), pick(payloads), pick(schedules), pick(zones), pick(dates), pick(dates),
                String(Int.random(in: 0...4_000_000_000, using: &random)),
                String(Int.random(in: 0...4_000_000_000, using: &random)), positive("10"), positive("1"),
                timeout == "NULL" ? "NULL" : "ABS(\(timeout))",
                String(Int.random(in: 0...4_000_000_000, using: &random)),
                String(Int.random(in: 0...4_000_000_000, using: &random)),
            ]
            rows.append("(" + columns.joined(separator: ", ") + ")")
        }
        try db.execute(
            """
            INSERT INTO cron (name, action, payload, schedule, timezone, next_run, fire_at, attempt, max_attempts, \
            backoff_seconds, backoff_max_seconds, timeout_seconds, max_concurrency, misfire_limit) VALUES
            """ + rows.joined(separator: ",\n"))
        // Some rows are valid sleeps of 1e308 s without a timeout, which hold a thread as asked:
        // enough threads that they cannot take them all (one run in a few dozen did with 4).
        let harness = try ExecutorHarness(db: db) { $0.threads = 64 }
        defer { harness.stop() }
        Thread.sleep(forTimeInterval: 3)
        // Still claiming and running: a row inserted now runs.
        try db.execute("INSERT INTO cron (name, action) VALUES ('after-the-fuzz', 'noop')")
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'after-the-fuzz' AND status = 'done'") == 1
            })
        // Every bad row that was looked at says why.
        #expect(
            try db.count("SELECT COUNT(*) FROM cron WHERE status = 'invalid' AND (error IS NULL OR error = '')") == 0)
    }

    @Test func aRowLockedElsewhereNeitherFencesTheExecutorNorDelaysOtherFires() throws {
        // A claim held by an executor that never registered (recovery must lock it), and a due
        // free row: both locked by someone else's open transaction for longer than the self-fence.
        try db.execute(
            """
            INSERT INTO cron (name, action, next_run, fire_at, task_id, claimed_by, claimed_at) VALUES
              ('held-by-a-ghost', 'noop', NOW(6), NOW(6), 123, 'ghost', NOW(6)),
              ('locked-and-due', 'noop', NOW(6) - INTERVAL 1 SECOND, NOW(6) - INTERVAL 1 SECOND, NULL, NULL, NULL)
            """)
        try db.execute(#"INSERT INTO cron (name, action, payload) VALUES ('long', 'sleep', '{"seconds": 6}')"#)
        // Someone else's client (a person's mysql session): no idle bound on its transaction.
        var foreign = ConnectionOptions()
        foreign.idleTransactionTimeout = nil
        let locker = try MySQLConnection(endpoint: db.primary.endpoint, options: foreign)
        try locker.executeText("START TRANSACTION")
        _ = try locker.query("SELECT id FROM cron WHERE name IN ('held-by-a-ghost', 'locked-and-due') FOR UPDATE")
        let harness = try ExecutorHarness(db: db)  // lease 3 s: it would fence itself after 2.1 s
        defer { harness.stop() }
        for i in 0..<10 {
            try db.execute("INSERT INTO cron (name, action) VALUES ('behind-\(i)', 'noop')")
            Thread.sleep(forTimeInterval: 0.4)
        }
        // Every fire behind the locked row ran while it was locked.
        #expect(try db.count("SELECT COUNT(*) FROM cron WHERE name LIKE 'behind-%' AND status = 'done'") == 10)
        try locker.executeText("COMMIT")
        // The long run was never cut short by a fence, and the locked rows run once free.
        #expect(
            try db.waitFor {
                try db.count("SELECT COUNT(*) FROM cron WHERE name = 'long' AND status = 'done'") == 1
            })
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.name = 'long' AND r.status = 'succeeded'"
            ) == 1)
        #expect(
            try db.waitFor {
                try db.count(
                    "SELECT COUNT(*) FROM cron WHERE name IN ('held-by-a-ghost', 'locked-and-due') AND status = 'done'")
                    == 2
            })
    }

    @Test func sessionsUseStandardSettingsOnly() throws {
        let c = try MySQLConnection(endpoint: db.primary.endpoint)
        let row = try #require(
            try c.query(
                "SELECT @@session.tx_isolation AS isolation, @@session.time_zone AS zone, @@session.innodb_lock_wait_timeout AS wait"
            )
            .first)
        #expect(row["isolation"].string == "READ-COMMITTED")
        #expect(row["zone"].string == "+00:00")
        #expect(row["wait"].int == 5)
    }
}
