import Foundation
import SundialMySQL
import SundialTesting
import Testing

/// Several `sundial executor` processes against one database: crashes, signals, load.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase, "needs SUNDIAL_TEST_DATABASE_URL"))
struct ExecutorProcessTests {
    static let name = "sundial_test_processes"
    let db: Database
    let url: String

    init() throws {
        db = try IntegrationEnvironment.migratedDatabase(Self.name)
        url = try IntegrationEnvironment.url(database: Self.name)
    }

    @Test func threeExecutorsRunTenThousandOneShotsExactlyOnce() throws {
        try db.execute("INSERT INTO cron (name, action) SELECT CONCAT('one-', seq), 'noop' FROM seq_1_to_10000")
        let executors = try (1...3).map {
            try ExecutorProcess(name: "e\($0)", databaseURL: url, arguments: ["--threads", "4"])
        }
        #expect(try db.waitFor(120) { try db.count("SELECT COUNT(*) FROM cron WHERE status = 'done'") == 10_000 })
        executors.forEach { $0.signal(SIGTERM) }
        #expect(executors.map { $0.wait(timeout: 30) } == [0, 0, 0])
        #expect(try db.count("SELECT COUNT(*) FROM cron_run") == 10_000)
        #expect(
            try db.count("SELECT COUNT(DISTINCT cron_id) FROM cron_run WHERE status = 'succeeded' AND attempt = 0")
                == 10_000)
        // The work was shared.
        #expect(try db.count("SELECT COUNT(DISTINCT SUBSTRING_INDEX(executor, '/', 1)) FROM cron_run") >= 2)
        #expect(try db.count("SELECT COUNT(*) FROM cron_executor WHERE state = 'stopped'") == 3)
    }

    @Test func killMinusNineTakesAtLeastOnceWorkOverAndNeverRunsATaskTwiceAtOnce() throws {
        let marker = "23.\(Int.random(in: 1000...9999))"
        try db.execute(
            """
            INSERT INTO cron (name, action, payload, delivery)
            SELECT CONCAT('long-', seq), 'shell', '{"command":"sleep \(marker)"}', IF(seq <= 3, 'at_least_once', 'at_most_once')
            FROM seq_1_to_6
            """)
        try db.execute("UPDATE cron SET payload = '{\"command\":\"sleep 2\"}' WHERE delivery = 'at_least_once'")
        // The long sleeps show who runs them; the at_least_once ones are short enough to finish.
        try db.execute(
            "UPDATE cron SET payload = '{\"command\":\"sleep 2; echo \(marker)\"}' WHERE delivery = 'at_least_once'")
        let victim = try ExecutorProcess(name: "victim", databaseURL: url, arguments: ["--threads", "8"])
        #expect(try db.waitFor(20) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'") == 6 })
        victim.signal(SIGKILL)
        let killedAt = Date()
        #expect(victim.wait(timeout: 5) == SIGKILL)
        // The supervisors saw their executor die and took the commands with it.
        Thread.sleep(forTimeInterval: 1)
        #expect(processes(containing: marker) == 0, "commands outlived their executor")

        let survivor = try ExecutorProcess(name: "survivor", databaseURL: url, arguments: ["--threads", "8"])
        defer { survivor.signal(SIGKILL) }
        #expect(try db.waitFor(30) { try db.count("SELECT COUNT(*) FROM cron WHERE status IN ('done', 'dead')") == 6 })
        let recovered = Date()
        // Lease 3 s plus a heartbeat, plus a start and a 2 s run: well inside 10 s.
        #expect(recovered.timeIntervalSince(killedAt) < 10)
        #expect(try db.count("SELECT COUNT(*) FROM cron WHERE delivery = 'at_least_once' AND status = 'done'") == 3)
        #expect(try db.count("SELECT COUNT(*) FROM cron WHERE delivery = 'at_most_once' AND status = 'dead'") == 3)
        #expect(try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'lost'") == 6)
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.delivery = 'at_least_once' AND r.status = 'succeeded' AND r.attempt = 1"
            ) == 3)
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron_run r JOIN cron c ON c.id = r.cron_id WHERE c.delivery = 'at_most_once' AND r.status <> 'lost'"
            ) == 0)
        // No task ran on two executors at once: every re-run started after its lost run was declared lost.
        let overlaps = try db.count(
            """
            SELECT COUNT(*) FROM cron_run a JOIN cron_run b ON a.cron_id = b.cron_id AND a.id < b.id
            WHERE b.started_at < COALESCE(a.finished_at, NOW(6)) AND a.executor <> b.executor
            """)
        #expect(overlaps == 0)
    }

    @Test func sigtermUnderLoadExitsCleanlyAndLosesNothing() throws {
        try db.execute(
            "INSERT INTO cron (name, action, payload) SELECT CONCAT('load-', seq), 'sleep', '{\"seconds\":0.02}' FROM seq_1_to_2000"
        )
        let first = try ExecutorProcess(name: "first", databaseURL: url, arguments: ["--threads", "8"])
        let second = try ExecutorProcess(name: "second", databaseURL: url, arguments: ["--threads", "8"])
        defer { second.signal(SIGKILL) }
        #expect(try db.waitFor(30) { try db.count("SELECT COUNT(*) FROM cron_run") >= 300 })
        first.signal(SIGTERM)
        #expect(first.wait(timeout: 40) == 0)
        #expect(try db.count("SELECT COUNT(*) FROM cron_executor WHERE id LIKE 'first/%' AND state = 'stopped'") == 1)
        #expect(try db.waitFor(60) { try db.count("SELECT COUNT(*) FROM cron WHERE status = 'done'") == 2000 })
        #expect(try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") == 2000)
        #expect(try db.count("SELECT COUNT(*) FROM cron_run WHERE status <> 'succeeded'") == 0)
    }

    @Test func sighupReloadsTheSettingsFileAndKeepsRunning() throws {
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-reload-\(UUID()).conf")
        try "batch = 10\n".write(to: config, atomically: true, encoding: .utf8)
        let executor = try ExecutorProcess(
            name: "reloader", databaseURL: url, arguments: ["--config", config.path, "--log-level", "info"])
        defer { executor.signal(SIGKILL) }
        #expect(
            try db.waitFor(10) { try db.count("SELECT COUNT(*) FROM cron_executor WHERE id LIKE 'reloader/%'") == 1 })
        try db.execute("INSERT INTO cron (name, action, payload) VALUES ('long', 'sleep', '{\"seconds\":3}')")
        #expect(try db.waitFor(10) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'running'") == 1 })
        try "batch = 20\nthreads = 2\n".write(to: config, atomically: true, encoding: .utf8)
        executor.signal(SIGHUP)
        try "batch = lots\n".write(to: config, atomically: true, encoding: .utf8)
        Thread.sleep(forTimeInterval: 0.5)
        executor.signal(SIGHUP)
        // The running task was not dropped, and a bad file kept the settings in force.
        #expect(try db.waitFor(10) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") == 1 })
        let log = try String(contentsOf: executor.log, encoding: .utf8)
        #expect(log.contains("settings reloaded"))
        #expect(log.contains("the thread count changes only on restart"))
        #expect(log.contains("reload failed; keeping the current settings"))
        executor.signal(SIGTERM)
        #expect(executor.wait(timeout: 20) == 0)
    }
}
