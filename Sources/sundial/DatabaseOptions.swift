import ArgumentParser
import Logging
import SundialCore
import SundialMySQLStore

/// `--database-url` and `--replica-url`, with their environment variables.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "The primary: mysql://user:password@host:port/database?socket=/path&pool_max=16. (env: SUNDIAL_DATABASE_URL)",
            valueName: "url"))
    var databaseURL: String?

    @Option(
        name: .customLong("replica-url"),
        help: ArgumentHelp(
            "A read replica; repeat for several. (env: SUNDIAL_REPLICA_URLS, comma-separated)", valueName: "url"))
    var replicaURLs: [String] = []

    /// The MySQL store at the configured URLs (nothing is opened until the first call).
    func openStore(logger: Logger) throws -> MySQLStore {
        guard let url = databaseURL ?? Environment.value("SUNDIAL_DATABASE_URL") else {
            throw ValidationError(
                "no database: pass --database-url or set SUNDIAL_DATABASE_URL (mysql://user:password@host:port/database)"
            )
        }
        let replicas =
            replicaURLs.isEmpty
            ? (Environment.value("SUNDIAL_REPLICA_URLS")?.split(separator: ",").map { String($0) } ?? [])
            : replicaURLs
        do {
            return try MySQLStore(url: url, replicaURLs: replicas, logger: logger)
        } catch {
            throw ValidationError(error.message)
        }
    }
}
