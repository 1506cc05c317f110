import Foundation
import Logging
import SundialMySQL

/// Applies migration files in order on the primary and records them in `schema_migrations`.
///
/// Re-running applies nothing new. A file that was applied and has since changed is refused. Two
/// migrators at once serialise on a named lock (`GET_LOCK`), so the second finds the work done.
/// MySQL commits DDL as it goes, so a file that fails halfway is not recorded: fix it and run
/// again (write migrations so their statements can be repeated, e.g. `IF NOT EXISTS`).
public struct Migrator: Sendable {
    /// What one file's state is.
    public struct Entry: Sendable, Equatable {
        public enum State: Sendable, Equatable {
            case applied(at: Date)
            case pending
            /// Recorded as applied but the file has changed since.
            case changed(at: Date)
            /// Recorded as applied but no longer in the directory.
            case missing(at: Date)

            var isChanged: Bool { if case .changed = self { true } else { false } }
            var isMissing: Bool { if case .missing = self { true } else { false } }
        }
        public let version: Int
        public let name: String
        public let state: State
    }

    public static let lockName = "sundial.migrate"

    public let database: Database
    public let files: [MigrationFile]
    public let logger: Logger
    /// How long to wait for another migrator to finish.
    public var lockTimeout: Duration = .seconds(120)

    /// Migrations on the store's primary.
    public init(store: MySQLStore, files: [MigrationFile], logger: Logger) {
        self.init(database: store.database, files: files, logger: logger)
    }

    public init(database: Database, files: [MigrationFile], logger: Logger) {
        self.database = database
        self.files = files
        self.logger = logger
    }

    /// Every file and every recorded version, in version order.
    public func status() throws -> [Entry] {
        try database.primary.withConnection { connection in
            try ensureHistoryTable(connection)
            return try entries(connection)
        }
    }

    /// Applies the pending files in order. Returns the files it applied.
    @discardableResult
    public func migrate() throws -> [MigrationFile] {
        try database.primary.withConnection { connection in
            let seconds = Int(lockTimeout.components.seconds)
            let locked: Bool
            do {
                locked =
                    try connection.query(
                        "SELECT GET_LOCK(?, ?) AS locked", [.string(Self.lockName), .int(Int64(seconds))]
                    ).first?["locked"].int == 1
            } catch let error as MySQLError where error.code == 1235 {
                // MariaDB 10.4.29, 10.5.20, 10.6.13 and 10.11.3 refuse GET_LOCK with Galera on
                // (MDEV-30473, undone by MDEV-31325); elsewhere it is a node's own lock anyway.
                logger.warning(
                    "the server refuses the migration lock (Galera); run one `sundial migrate` at a time",
                    metadata: ["error": "\(error)"])
                locked = true
            }
            guard locked else {
                throw MigrationError(
                    "another `sundial migrate` has held the migration lock for \(seconds) s; try again when it has finished"
                )
            }
            defer { _ = try? connection.query("SELECT RELEASE_LOCK(?) AS released", [.string(Self.lockName)]) }

            try ensureHistoryTable(connection)
            let current = try entries(connection)
            if let changed = current.first(where: { $0.state.isChanged }) {
                throw MigrationError(
                    "\(changed.name) was changed after it was applied; restore the applied version and put the change in a new migration file"
                )
            }
            for missing in current where missing.state.isMissing {
                logger.warning(
                    "applied migration is not in the directory",
                    metadata: ["version": "\(missing.version)", "name": "\(missing.name)"])
            }
            let pending = Set(current.filter { $0.state == .pending }.map(\.version))
            var applied: [MigrationFile] = []
            for file in files where pending.contains(file.version) {
                let started = ContinuousClock.now
                for (i, statement) in file.statements.enumerated() {
                    do {
                        try connection.executeText(statement)
                    } catch let error as MySQLError {
                        throw MigrationError(
                            "\(file.name), statement \(i + 1) (\(error.statement)): \(error.message); nothing after it was applied and the file is not recorded"
                        )
                    }
                }
                let elapsed = ContinuousClock.now - started
                try connection.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at, execution_ms) VALUES (?, ?, SHA2(?, 256), NOW(6), ?)",
                    [
                        .int(Int64(file.version)), .string(file.name), .string(file.sql),
                        .int(
                            elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000),
                    ])
                logger.info("applied migration", metadata: ["name": "\(file.name)"])
                applied.append(file)
            }
            return applied
        }
    }

    private func ensureHistoryTable(_ connection: MySQLConnection) throws {
        try connection.executeText(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
              version BIGINT NOT NULL PRIMARY KEY,
              name VARCHAR(255) NOT NULL,
              checksum CHAR(64) NOT NULL,
              applied_at DATETIME(6) NOT NULL,
              execution_ms BIGINT NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
            """)
    }

    private func entries(_ connection: MySQLConnection) throws -> [Entry] {
        let recorded = try connection.query(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version")
        var byVersion: [Int: (name: String, checksum: String, at: Date)] = [:]
        for row in recorded {
            byVersion[row["version"].int ?? -1] = (
                row["name"].string ?? "", row["checksum"].string ?? "", row["applied_at"].date ?? .distantPast
            )
        }
        var result: [Entry] = []
        for file in files {
            if let applied = byVersion.removeValue(forKey: file.version) {
                let checksum = try connection.query("SELECT SHA2(?, 256) AS checksum", [.string(file.sql)]).first?[
                    "checksum"
                ].string
                result.append(
                    Entry(
                        version: file.version, name: file.name,
                        state: checksum == applied.checksum ? .applied(at: applied.at) : .changed(at: applied.at)))
            } else {
                result.append(Entry(version: file.version, name: file.name, state: .pending))
            }
        }
        for (version, applied) in byVersion {
            result.append(Entry(version: version, name: applied.name, state: .missing(at: applied.at)))
        }
        return result.sorted { $0.version < $1.version }
    }
}
