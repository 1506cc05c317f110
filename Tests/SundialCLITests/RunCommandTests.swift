import Foundation
import SundialMySQL
import SundialTesting
import Testing

/// `sundial run list` and `sundial run show` against a real MariaDB.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase))
struct RunCommandTests {
    static let name = "sundial_test_cli_runs"
    let db: Database
    let environment: [String: String]

    init() throws {
        db = try IntegrationEnvironment.migratedDatabase(Self.name)
        environment = try Sundial.environment(database: Self.name)
    }

    @Test func runsAreListedByFilterAndShownWithTheirOutput() throws {
        let task = try db.execute("INSERT INTO cron (name, action, status) VALUES ('backup', 'noop', 'done')")
            .lastInsertID
        for (i, status) in ["succeeded", "failed", "succeeded"].enumerated() {
            try db.execute(
                """
                INSERT INTO cron_run (cron_id, scheduled_for, attempt, executor, task_id, started_at, finished_at, status, \
                exit_code, output, error) VALUES (?, NOW(6) - INTERVAL ? HOUR, 0, 'e1', 1, NOW(6) - INTERVAL ? HOUR, \
                NOW(6) - INTERVAL ? HOUR, ?, ?, ?, ?)
                """,
                [
                    .int(Int64(task)), .int(Int64(10 - i * 4)), .int(Int64(10 - i * 4)), .int(Int64(10 - i * 4)),
                    .string(status), .int(status == "failed" ? 2 : 0), .string("copied \(i)\n"),
                    status == "failed" ? .string("exit status 2") : .null,
                ])
        }
        let list = try Sundial.run(["run", "list", "--task", "backup"], environment: environment)
        #expect(list.status == 0, "\(list.standardError)")
        let lines = list.standardOutput.split(separator: "\n")
        #expect(lines.count == 4 && lines[0].hasPrefix("ID"))
        let failed = try Sundial.run(["run", "list", "--status", "failed"], environment: environment)
        #expect(failed.standardOutput.split(separator: "\n").count == 2)
        let recent = try Sundial.run(["run", "list", "--since", "5h"], environment: environment)
        #expect(recent.standardOutput.split(separator: "\n").count == 2)
        let bad = try Sundial.run(["run", "list", "--since", "yesterday"], environment: environment)
        #expect(bad.status != 0 && bad.standardError.contains("--since takes"))

        let id = try #require(lines[2].split(separator: " ").first.map(String.init))
        let show = try Sundial.run(["run", "show", id], environment: environment)
        #expect(show.status == 0)
        #expect(show.standardOutput.contains("status:      failed"))
        #expect(show.standardOutput.contains("error:       exit status 2"))
        #expect(show.standardOutput.hasSuffix("output:\ncopied 1\n"))
        #expect(
            try Sundial.run(["run", "show", "999999"], environment: environment).standardError.contains("no run 999999")
        )
    }
}
