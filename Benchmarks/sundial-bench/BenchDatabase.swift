import ArgumentParser
import Foundation
import Logging
import SundialMySQL
import SundialMySQLStore
import SundialTesting

/// A scratch database for benchmarks, next to the one SUNDIAL_DATABASE_URL names.
struct BenchDatabase {
    let name: String
    let url: String
    let db: Database

    /// Benchmarks print their numbers; the libraries' logs would only be in the way.
    static let logger: Logger = {
        var logger = Logger(label: "sundial-bench")
        logger.logLevel = .critical
        return logger
    }()

    static func create(named name: String, baseURL: String?, logger: Logger = Self.logger) throws -> BenchDatabase {
        guard let base = baseURL ?? ProcessInfo.processInfo.environment["SUNDIAL_DATABASE_URL"] else {
            throw ValidationError(
                "pass --database-url or set SUNDIAL_DATABASE_URL (e.g. eval \"$(deploy/dev/devdb env)\")")
        }
        let admin = try MySQLConnection(endpoint: try MySQLEndpoint(url: base))
        try admin.executeText("DROP DATABASE IF EXISTS `\(name)`")
        try admin.executeText("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4")
        admin.close()
        let url = try Self.url(base, database: name)
        let db = try Database(url: url, logger: logger)
        let files = try MigrationFile.load(from: URL(fileURLWithPath: "migrations/mysql"))
        try Migrator(database: db, files: files, logger: logger).migrate()
        return BenchDatabase(name: name, url: url, db: db)
    }

    /// `base` with its database replaced by `name`; a URL naming several hosts stays whole.
    static func url(_ base: String, database name: String) throws -> String {
        guard let schemeEnd = base.range(of: "://"),
            let pathStart = base[schemeEnd.upperBound...].firstIndex(of: "/")
        else { throw ValidationError("the database URL names no database") }
        let rest = base[base.index(after: pathStart)...]
        let query = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        return String(base[...pathStart]) + name + query
    }

    /// Polls `countSQL` every `every` until it reaches `target`; returns how long that took.
    @discardableResult
    func wait(
        until countSQL: String, reaches target: Int, within limit: Duration = .seconds(300),
        every: Duration = .milliseconds(10), _ what: @autoclosure () -> String
    ) throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        while try db.count(countSQL) < target {
            guard clock.now - start < limit else { throw ValidationError("\(what()) not done within \(limit)") }
            Thread.sleep(forTimeInterval: every.seconds)
        }
        return clock.now - start
    }

    /// The release `sundial` binary beside this benchmark binary.
    static var sundialBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("sundial")
    }
}

extension Array where Element == Double {
    /// The middle value (the upper one of an even count); 0 when empty.
    var median: Double {
        let sorted = self.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }
}
