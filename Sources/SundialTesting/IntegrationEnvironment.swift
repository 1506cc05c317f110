import Foundation
import Logging
import SundialMySQL
import SundialMySQLStore
import Synchronization

/// The real MariaDB the integration tests use, from the environment that `deploy/dev/run-tests`
/// sets: SUNDIAL_TEST_DATABASE_URL (primary), SUNDIAL_TEST_REPLICA_URL (binlog replica) and
/// SUNDIAL_TEST_DEVDB (the dev script, to stop and start the replica).
public enum IntegrationEnvironment {
    public static let primaryURL = ProcessInfo.processInfo.environment["SUNDIAL_TEST_DATABASE_URL"]
    public static let replicaURL = ProcessInfo.processInfo.environment["SUNDIAL_TEST_REPLICA_URL"]
    public static let devdb = ProcessInfo.processInfo.environment["SUNDIAL_TEST_DEVDB"]

    public static var hasDatabase: Bool { primaryURL != nil }
    public static var hasReplica: Bool { primaryURL != nil && replicaURL != nil }

    public static let logger: Logger = {
        var logger = Logger(label: "sundial.test")
        logger.logLevel = .critical
        return logger
    }()

    /// An endpoint like the configured one but on database `name`, with extra URL options.
    public static func endpoint(_ url: String, database name: String, options: [String: String] = [:]) throws
        -> MySQLEndpoint
    {
        var endpoint = try MySQLEndpoint(url: url)
        endpoint.database = name
        endpoint.options.merge(options) { $1 }
        return endpoint
    }

    /// Creates (or empties) database `name` on the primary; it reaches the replica by replication.
    public static func freshDatabase(_ name: String) throws {
        let admin = try MySQLConnection(
            endpoint: try endpoint(primaryURL!, database: try MySQLEndpoint(url: primaryURL!).database))
        defer { admin.close() }
        try admin.executeText("DROP DATABASE IF EXISTS `\(name)`")
        try admin.executeText("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4")
    }

    public static func database(_ name: String, options: [String: String] = [:], replicas: Bool = true) throws
        -> Database
    {
        try Database(
            primary: try endpoint(primaryURL!, database: name, options: options),
            replicas: replicas && replicaURL != nil
                ? [try endpoint(replicaURL!, database: name, options: options)] : [],
            logger: logger, replicaRetryAfter: .milliseconds(200))
    }

    /// Waits until the replica has applied everything the primary has written so far.
    public static func waitForReplica(_ db: Database, timeout: TimeInterval = 90) throws {
        guard let replicaURL else { return }
        let position = try db.primary.withConnection {
            try $0.query("SELECT @@gtid_binlog_pos AS pos").first?["pos"].string ?? ""
        }
        // On the replica's own default database: the test database may not have arrived yet.
        let replica = try MySQLConnection(endpoint: try MySQLEndpoint(url: replicaURL))
        defer { replica.close() }
        let waited = try replica.query(
            "SELECT MASTER_GTID_WAIT(?, ?) AS waited", [.string(position), .double(timeout)]
        ).first?["waited"].int
        if waited != 0 { throw TestFailure("the replica did not catch up within \(timeout) s") }
    }

    /// Runs the dev script (`stop replica`, `start replica`).
    public static func devdb(_ arguments: String...) throws {
        guard let script = devdb else { throw TestFailure("SUNDIAL_TEST_DEVDB is not set") }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-test-devdb.log").path
        try ChildProcess.run(["/bin/bash", script] + arguments, log: log)
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking work on a thread of its own (never on Swift's cooperative pool) and awaits it.
public func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
}

/// Runs `count` threads at once and waits for all of them.
public func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for i in 0..<count {
            group.addTask { try await onThread { try body(i) } }
        }
        try await group.waitForAll()
    }
}

extension IntegrationEnvironment {
    /// A fresh database `name` with Sundial's migrations applied.
    public static func migratedDatabase(_ name: String, replicas: Bool = false, options: [String: String] = [:]) throws
        -> Database
    {
        try freshDatabase(name)
        let db = try database(name, options: options, replicas: replicas)
        try migrate(db)
        return db
    }

    /// Applies the repository's migrations to `db`.
    public static func migrate(_ db: Database) throws {
        let directory = repositoryRoot.appendingPathComponent("migrations/mysql")
        try Migrator(database: db, files: try MigrationFile.load(from: directory), logger: logger).migrate()
    }

    /// The URL of database `name` on the test primary, for child processes.
    public static func url(database name: String) throws -> String {
        guard var components = URLComponents(string: primaryURL!) else {
            throw TestFailure("cannot parse the database URL")
        }
        components.path = "/" + name
        guard let url = components.string else { throw TestFailure("cannot rewrite the database URL") }
        return url
    }

    /// The checkout this package was built from.
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// The `sundial` binary built beside the running tests.
    public static var sundialBinary: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("sundial").path), url.path != "/" {
            url.deleteLastPathComponent()
        }
        return url.appendingPathComponent("sundial")
    }
}

/// Processes whose command line (arguments joined by spaces) contains `marker`.
public func processes(containing marker: String) -> Int {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.filter { Int($0) != nil }.filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        // Arguments are separated by NUL bytes.
        return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).contains(marker)
    }.count
}

extension Database {
    /// The first column of the first row, as an integer.
    public func count(_ sql: String, _ values: [MySQLValue] = []) throws -> Int {
        try query(sql, values, consistency: .primary).first?[0].int ?? -1
    }

    /// Polls `condition` until it holds or `timeout` passes; returns whether it held.
    public func waitFor(_ timeout: TimeInterval = 20, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try condition()
    }
}
