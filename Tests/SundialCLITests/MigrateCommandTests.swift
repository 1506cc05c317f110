import Foundation
import SundialMySQL
import SundialTesting
import Testing

@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase))
struct MigrateCommandTests {
    static let database = "sundial_test_cli_migrate"
    let environment: [String: String]
    let directory: URL

    init() throws {
        try IntegrationEnvironment.freshDatabase(Self.database)
        let withDatabase = try IntegrationEnvironment.url(database: Self.database)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-cli-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try "CREATE TABLE one (id INT);".write(
            to: directory.appendingPathComponent("0001_one.sql"), atomically: true, encoding: .utf8)
        environment = ["SUNDIAL_DATABASE_URL": withDatabase, "SUNDIAL_MIGRATIONS_DIR": directory.path]
    }

    @Test func migrateThenStatusThenNothingToDo() throws {
        let status = try Sundial.run(["migrate", "--status"], environment: environment)
        #expect(status.status == 0)
        #expect(status.standardOutput == "pending  0001  0001_one.sql\n")
        let first = try Sundial.run(["migrate"], environment: environment)
        #expect(first.status == 0)
        #expect(first.standardOutput == "Applied 1 migration(s): 0001_one.sql\n")
        let again = try Sundial.run(["migrate"], environment: environment)
        #expect(again.standardOutput == "Nothing to apply: the schema is up to date.\n")
        #expect(
            try Sundial.run(["migrate", "--status"], environment: environment).standardOutput.hasPrefix("applied  0001")
        )
    }

    @Test func aMissingOrWrongDatabaseURLIsExplained() throws {
        let none = try Sundial.run(
            ["migrate"], environment: ["SUNDIAL_DATABASE_URL": "", "SUNDIAL_MIGRATIONS_DIR": directory.path])
        #expect(none.status != 0)
        #expect(none.standardError.contains("no database: pass --database-url or set SUNDIAL_DATABASE_URL"))
        let wrong = try Sundial.run(
            ["migrate", "--database-url", "mysql://sundial:wrong-secret@localhost/nope?socket=/nonexistent.sock"],
            environment: environment)
        #expect(wrong.status != 0)
        #expect(wrong.standardError.contains("/nonexistent.sock: connect:"))
        #expect(!wrong.standardError.contains("wrong-secret"))
    }
}
