import ArgumentParser
import Foundation
import Logging
import SundialMigrations
import SundialMySQL

/// A scratch database for benchmarks, next to the one SUNDIAL_DATABASE_URL names.
struct BenchDatabase {
    let url: String
    let db: Database

    static func create(named name: String, baseURL: String?, logger: Logger) throws -> BenchDatabase {
        guard let base = baseURL ?? ProcessInfo.processInfo.environment["SUNDIAL_DATABASE_URL"] else {
            throw ValidationError(
                "pass --database-url or set SUNDIAL_DATABASE_URL (e.g. eval \"$(deploy/dev/devdb env)\")")
        }
        let admin = try MySQLConnection(endpoint: try MySQLEndpoint(url: base))
        try admin.executeText("DROP DATABASE IF EXISTS `\(name)`")
        try admin.executeText("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4")
        admin.close()
        guard var components = URLComponents(string: base) else { throw ValidationError("bad database URL") }
        components.path = "/" + name
        let url = components.string!
        let db = try Database(url: url, logger: logger)
        let files = try MigrationFile.load(from: URL(fileURLWithPath: "migrations/mysql"))
        try Migrator(database: db, files: files, logger: logger).migrate()
        return BenchDatabase(url: url, db: db)
    }

    func count(_ sql: String) throws -> Int {
        try db.query(sql, consistency: .primary).first?[0].int ?? -1
    }

    /// The release `sundial` binary beside this benchmark binary.
    static var sundialBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("sundial")
    }
}
