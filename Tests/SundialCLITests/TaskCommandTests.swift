import Foundation
import SundialMySQL
import SundialTesting
import Testing

/// `sundial task …` end to end, with an executor process doing the runs.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase))
struct TaskCommandTests {
    static let name = "sundial_test_cli_tasks"
    let db: Database
    let environment: [String: String]

    init() throws {
        db = try IntegrationEnvironment.migratedDatabase(Self.name)
        environment = try Sundial.environment(database: Self.name)
    }

    func sundial(_ arguments: String...) throws -> CommandResult {
        try Sundial.run(arguments, environment: environment)
    }

    @Test func addListShowPauseResumeRunDelete() throws {
        let added = try sundial(
            "task", "add", "report", "--action", "shell", "--payload", #"{"command":"echo report"}"#, "--schedule",
            "0 3 * * *",
            "--tz", "Europe/London", "--max-attempts", "3")
        #expect(added.status == 0)
        #expect(added.standardOutput.hasPrefix("added report (id "))
        #expect(
            try sundial("task", "add", "report", "--action", "noop").standardError.contains(
                "a task named 'report' already exists"))
        #expect(
            try sundial("task", "add", "bad", "--action", "noop", "--schedule", "0 0 * * 8").standardError.contains(
                "day-of-week: 8 is out of range 0-7"))
        #expect(
            try sundial("task", "add", "bad", "--action", "shell", "--payload", "{}").standardError.contains(
                "payload: command is missing"))

        let list = try sundial("task", "list")
        #expect(list.standardOutput.contains("report"))
        #expect(list.standardOutput.contains("0 3 * * *"))
        let show = try sundial("task", "show", "report")
        #expect(show.standardOutput.contains("At 03:00 (Europe/London)"))
        #expect(show.standardOutput.contains("(attempt 1 of 3)"))

        #expect(try sundial("task", "pause", "report").standardOutput == "paused report\n")
        #expect(try sundial("task", "list", "--status", "paused").standardOutput.contains("report"))
        #expect(try sundial("task", "pause", "report").standardError.contains("was not changed: it is not active"))
        #expect(try sundial("task", "resume", "report").standardOutput == "resumed report\n")
        // An invalid row is given another chance once it checks out (a fixed zone here).
        try db.execute(
            "INSERT INTO cron (name, action, schedule, timezone, status, error) VALUES ('zoned', 'noop', '0 9 * * *', 'Europe/Paris', 'invalid', 'unknown time zone')"
        )
        #expect(try sundial("task", "resume", "zoned").standardOutput == "resumed zoned\n")
        #expect(
            try db.count(
                "SELECT COUNT(*) FROM cron WHERE name = 'zoned' AND status = 'active' AND next_run > NOW(6) AND error IS NULL"
            ) == 1)
        try db.execute("UPDATE cron SET status = 'invalid', timezone = 'Mars/Base' WHERE name = 'zoned'")
        #expect(try sundial("task", "resume", "zoned").standardError.contains("Mars/Base"))

        // Run now, with an executor: it runs once and the schedule continues.
        #expect(try sundial("task", "run", "report").status == 0)
        let executor = Process()
        executor.executableURL = IntegrationEnvironment.sundialBinary
        executor.arguments = ["executor", "--poll-interval", "0.05", "--log-level", "error", "--listen", "off"]
        executor.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        try executor.run()
        defer { executor.terminate() }
        #expect(try db.waitFor(20) { try db.count("SELECT COUNT(*) FROM cron_run WHERE status = 'succeeded'") == 1 })
        let shown = try sundial("task", "show", "report").standardOutput
        #expect(shown.contains("succeeded"))
        #expect(try sundial("task", "kill", "report").standardOutput == "report is not running\n")

        #expect(try sundial("task", "delete", "report").standardOutput == "deleted report\n")
        #expect(try sundial("task", "show", "report").standardError.contains("no task named 'report'"))
        #expect(try db.count("SELECT COUNT(*) FROM cron_run") == 1, "the history stays")
    }
}
