import Foundation
import Logging
import SundialMySQL

/// The clusters of `deploy/dev/devcluster` that the high-availability tests use, from the
/// environment `deploy/dev/run-tests` sets: SUNDIAL_TEST_FAILOVER_URL (a primary and its replica in
/// one URL), SUNDIAL_TEST_GALERA_URL_1..3 (one per Galera node), SUNDIAL_TEST_GALERA_TCP_URL (g1 and
/// g2 in one URL) and SUNDIAL_TEST_DEVCLUSTER (the script, for root SQL on a node).
public enum ClusterEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    public static let failoverURL = environment["SUNDIAL_TEST_FAILOVER_URL"]
    public static let galeraURLs = (1...3).compactMap { environment["SUNDIAL_TEST_GALERA_URL_\($0)"] }
    public static let devcluster = environment["SUNDIAL_TEST_DEVCLUSTER"]
    /// Galera's g1 and g2 in one URL, by TCP.
    public static let galeraTCPURL = environment["SUNDIAL_TEST_GALERA_TCP_URL"]

    public static var hasFailoverPair: Bool { failoverURL != nil && devcluster != nil }
    public static var hasGalera: Bool { galeraURLs.count == 3 && devcluster != nil }

    /// `url` with its database replaced by `name` (every host kept).
    public static func url(_ url: String, database name: String) throws -> MySQLEndpoint {
        var endpoint = try MySQLEndpoint(url: url)
        endpoint.database = name
        return endpoint
    }

    /// Creates (or empties) database `name` through the first host of `url`, and migrates it.
    public static func migratedDatabase(_ name: String, on url: String, options: [String: String] = [:]) throws
        -> Database
    {
        var endpoint = try self.url(url, database: name)
        endpoint.options.merge(options) { $1 }
        let admin = try MySQLConnection(endpoint: try MySQLEndpoint(url: url))
        try admin.executeText("DROP DATABASE IF EXISTS `\(name)`")
        try admin.executeText("CREATE DATABASE `\(name)` CHARACTER SET utf8mb4")
        admin.close()
        let db = try Database(primary: endpoint, logger: IntegrationEnvironment.logger)
        try IntegrationEnvironment.migrate(db)
        return db
    }

    /// Root SQL on a node (`a`, `b`, `g1`…) through the script.
    public static func rootSQL(_ node: String, _ sql: String) throws {
        guard let devcluster else { throw TestFailure("SUNDIAL_TEST_DEVCLUSTER is not set") }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-test-devcluster.log").path
        try ChildProcess.run(["/bin/bash", devcluster, "sql", node, "-e", sql], log: log)
    }
}
