import ArgumentParser
import Foundation
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialMySQLStore
import SundialWeb

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

/// Database and logging flags, for commands that do one thing with the store and exit: the store
/// opened and closed around `body`, and every refusal (the store's, the task admin's, the user
/// admin's) as the command's readable failure.
struct StoreOptions: ParsableArguments {
    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    /// Who a command's run now names: the command line and the account that typed it.
    static var commandLineUser: String {
        let environment = ProcessInfo.processInfo.environment
        let account = environment["SUDO_USER"] ?? environment["USER"] ?? environment["LOGNAME"]
        return "command line" + (account.map { " (\($0))" } ?? "")
    }

    @discardableResult
    func withStore<T>(_ body: (any SundialStore) throws -> T) throws -> T {
        let logger = try logging.makeLogger(label: "sundial")
        let store = try database.openStore(logger: logger)
        defer { store.close() }
        do {
            return try body(store)
        } catch let error as StoreError {
            throw CommandFailure(error.description)
        } catch let error as TaskAdmin.AdminError {
            throw CommandFailure(error.description)
        } catch let error as UserAdmin.Refusal {
            throw CommandFailure(error.description)
        }
    }

    @discardableResult
    func withAdmin<T>(_ body: (TaskAdmin) throws -> T) throws -> T {
        try withStore { try body(.forTools(store: $0)) }
    }

    @discardableResult
    func withUsers<T>(_ body: (UserAdmin) throws -> T) throws -> T {
        try withStore { try body(UserAdmin(store: $0)) }
    }
}

extension TaskAdmin {
    /// The admin the command line and the console use: the built-in handlers, to check tasks as an
    /// executor with the defaults would.
    static func forTools(store: any SundialStore) -> TaskAdmin {
        TaskAdmin(store: store, definitions: TaskDefinitions(handlers: HandlerRegistry(liveness: ShellLiveness())))
    }
}
