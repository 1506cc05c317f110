import Foundation
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialMySQL
import SundialMySQLStore
import SundialTesting

/// Runs an in-process executor against a test database, with quick timings for tests.
struct ExecutorHarness {
    let db: Database
    let executor: Executor

    static func settings(_ configure: (inout ExecutorConfiguration) -> Void = { _ in }) -> ExecutorConfiguration {
        var settings = ExecutorConfiguration()
        settings.threads = 4
        settings.pollInterval = .milliseconds(50)
        settings.heartbeatInterval = .milliseconds(200)
        settings.lease = .seconds(3)
        settings.shutdownGrace = .seconds(5)
        configure(&settings)
        return settings
    }

    static func handlers(_ liveness: ShellLiveness) -> HandlerRegistry {
        var shell = ShellHandler.Configuration()
        // The fast supervisor binary here; ShellHandlerTests use the fallback (the binary itself).
        shell.supervisor = [
            IntegrationEnvironment.sundialBinary.deletingLastPathComponent().appendingPathComponent("sundial-supervise")
                .path
        ]
        shell.killGrace = 1
        return HandlerRegistry(liveness: liveness, shell: shell)
    }

    init(
        db: Database, handlers extra: [String: any TaskHandler] = [:],
        _ configure: (inout ExecutorConfiguration) -> Void = { _ in }
    ) throws {
        self.db = db
        let liveness = ShellLiveness()
        var handlers = Self.handlers(liveness)
        for (action, handler) in extra { handlers.register(action, handler) }
        executor = Executor(
            store: MySQLStore(database: db, logger: IntegrationEnvironment.logger),
            configuration: Self.settings(configure), handlers: handlers, liveness: liveness,
            logger: IntegrationEnvironment.logger)
        try executor.start()
    }

    var admin: TaskAdmin { TaskAdmin(store: executor.store, definitions: executor.definitions) }

    func stop() { executor.stop() }
}

/// A `sundial executor` child process.
final class ExecutorProcess {
    let process = Process()
    let name: String
    /// Where its standard error goes.
    let log: URL

    init(name: String, databaseURL: String, arguments: [String] = []) throws {
        self.name = name
        process.executableURL = IntegrationEnvironment.sundialBinary
        process.arguments =
            [
                "executor", "--id", name, "--listen", "off", "--heartbeat", "0.5", "--lease", "3", "--poll-interval",
                "0.05",
                "--log-level", "warning",
            ]
            + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SUNDIAL_DATABASE_URL"] = databaseURL
        environment["SUNDIAL_REPLICA_URLS"] = nil
        process.environment = environment
        // Logs go to a file named after the executor, for when a test fails.
        log = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-test-\(name).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = handle
        try process.run()
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    func wait(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
