import Foundation
import Logging
import SundialMySQL
import SundialMySQLStore
import SundialTesting
import Synchronization
import Testing

@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase, "needs SUNDIAL_TEST_DATABASE_URL"))
struct MigratorIntegrationTests {
    static let name = "sundial_test_migrations"
    let db: Database
    let directory: URL

    init() throws {
        try IntegrationEnvironment.freshDatabase(Self.name)
        db = try IntegrationEnvironment.database(Self.name, replicas: false)
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-migrations-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try write(
            "0001_create_a.sql",
            "-- a table; with a comment\nCREATE TABLE a (id INT PRIMARY KEY, note VARCHAR(20) DEFAULT 'x;y');\n")
        try write(
            "0002_create_b.sql", "CREATE TABLE b (id INT PRIMARY KEY);\n/* two statements */\nINSERT INTO b VALUES (1);"
        )
    }

    func write(_ name: String, _ sql: String) throws {
        try sql.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
    }

    func migrator() throws -> Migrator {
        Migrator(database: db, files: try MigrationFile.load(from: directory), logger: IntegrationEnvironment.logger)
    }

    @Test func appliesInOrderOnceAndReRunningIsANoOp() throws {
        #expect(try migrator().status().map(\.state) == [.pending, .pending])
        #expect(try migrator().migrate().map(\.name) == ["0001_create_a.sql", "0002_create_b.sql"])
        #expect(try migrator().migrate().isEmpty)
        #expect(try db.query("SELECT COUNT(*) AS n FROM b", consistency: .primary).first?["n"].int == 1)
        try write("0003_add.sql", "ALTER TABLE a ADD COLUMN extra INT;")
        let status = try migrator().status()
        #expect(status.count == 3)
        #expect(status.last?.state == .pending)
        #expect(try migrator().migrate().map(\.version) == [3])
    }

    @Test func anEditedAppliedFileIsRefused() throws {
        try migrator().migrate()
        try write("0002_create_b.sql", "CREATE TABLE b (id BIGINT PRIMARY KEY);")
        #expect(
            throws: MigrationError(
                "0002_create_b.sql was changed after it was applied; restore the applied version and put the change in a new migration file"
            )
        ) {
            try migrator().migrate()
        }
        #expect(try migrator().status().last?.state.isChanged == true)
    }

    @Test func twoMigratorsAtOnceApplyEachFileOnce() async throws {
        let db = self.db
        let files = try MigrationFile.load(from: directory)
        let applied = Mutex<[Int]>([])
        try await onThreads(4) { _ in
            let result = try Migrator(database: db, files: files, logger: IntegrationEnvironment.logger).migrate()
            applied.withLock { $0.append(contentsOf: result.map(\.version)) }
        }
        #expect(applied.withLock { $0.sorted() } == [1, 2])
        #expect(try db.query("SELECT COUNT(*) AS n FROM schema_migrations", consistency: .primary).first?["n"].int == 2)
    }

    @Test func aFailingStatementNamesTheFileAndIsNotRecorded() throws {
        try write("0003_broken.sql", "CREATE TABLE c (id INT);\nCREATE TABLE c (id INT);")
        do {
            try migrator().migrate()
            Issue.record("a broken migration was applied")
        } catch let error as MigrationError {
            #expect(error.message.hasPrefix("0003_broken.sql, statement 2 (CREATE TABLE c (id):"))
        }
        #expect(try migrator().status().last?.state == .pending)
    }

    @Test func badFileNamesAreErrors() throws {
        try write("7_short.sql", "SELECT 1;")
        #expect(
            throws: MigrationError(
                "7_short.sql: migration files are named NNNN_description.sql (four or more digits, an underscore, a description)"
            )
        ) {
            try MigrationFile.load(from: directory)
        }
    }
}

extension Migrator.Entry.State {
    var isChanged: Bool { if case .changed = self { true } else { false } }
}
