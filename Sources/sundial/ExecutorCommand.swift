import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SundialActions
import SundialAlerts
import SundialCore
import SundialExecutor
import SundialOperations
import SundialWeb

/// `sundial executor`: claim and run due tasks until SIGTERM or SIGINT; SIGHUP reloads settings.
struct ExecutorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "executor",
        abstract: "Claim due tasks and run them until SIGTERM/SIGINT (SIGHUP reloads settings).",
        discussion: """
            Every setting can also come from the environment (SUNDIAL_THREADS, SUNDIAL_BATCH, …) or \
            from a --config file of `name = value` lines with the flags' names; flags win over the \
            file, the file over the environment. SIGHUP reads the file and the environment again.
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Pool threads: tasks run at once. (env: SUNDIAL_THREADS; default 8)")
    var threads: Int?
    @Option(help: "Most rows one claim takes when runs are quick. (env: SUNDIAL_BATCH; default 500)")
    var batch: Int?
    @Option(help: "This executor's name in cron_executor. (env: SUNDIAL_ID; default host:pid)")
    var id: String?
    @Option(help: "Placement tags, comma-separated (host=web1,gpu). (env: SUNDIAL_TAGS)")
    var tags: String?
    @Option(help: "Seconds of lease: a silent executor is dead after this. (env: SUNDIAL_LEASE; default 10)")
    var lease: Double?
    @Option(help: "Seconds between heartbeats. (env: SUNDIAL_HEARTBEAT; default 1)")
    var heartbeat: Double?
    @Option(help: "Seconds between claims when idle. (env: SUNDIAL_POLL_INTERVAL; default 0.2)")
    var pollInterval: Double?
    @Option(help: "Seconds ahead of next_run a row may be claimed. (env: SUNDIAL_LOOKAHEAD; default 0.5)")
    var lookahead: Double?
    @Option(help: "Claimed work allowed beyond free threads. (env: SUNDIAL_QUEUE_ALLOWANCE; default 32)")
    var queueAllowance: Int?
    @Option(help: "Seconds running tasks get to finish on SIGTERM. (env: SUNDIAL_SHUTDOWN_GRACE; default 30)")
    var shutdownGrace: Double?
    @Option(help: "Days of run history kept; 0 keeps it regardless of age. (env: SUNDIAL_KEEP_RUNS_DAYS; default 30)")
    var keepRunsDays: Double?
    @Option(
        help:
            "Runs kept per task beyond the age limit; 0: no count limit. (env: SUNDIAL_KEEP_RUNS_PER_TASK; default 1000)"
    )
    var keepRunsPerTask: Int?
    @Option(help: "Hours a stopped or dead executor's row is kept. (env: SUNDIAL_KEEP_EXECUTORS_HOURS; default 24)")
    var keepExecutorsHours: Double?
    @Option(help: "A file of `name = value` settings, read again on SIGHUP. (env: SUNDIAL_CONFIG)")
    var config: String?
    @Option(
        help:
            "Where /metrics, /livez, /healthz and /readyz listen, HOST:PORT or off. (env: SUNDIAL_LISTEN; default 127.0.0.1:9464)"
    )
    var listen: String?
    @Option(
        help: "The alert settings file (JSON: channels, defaults, late_seconds). (env: SUNDIAL_ALERTS; default: none)")
    var alerts: String?

    func run() async throws {
        try await run(alsoServing: nil)
    }

    /// The executor, and the web console in the same process when `web` is given (`sundial serve`).
    func run(alsoServing web: WebOptions?) async throws {
        let logger = try logging.makeLogger(label: "sundial.executor")
        var settings = try loadSettings()
        let alertSettings = try loadAlertSettings()
        settings.alerting = alertSettings.routing
        // The secrets the alert settings name never reach a job or an alert command.
        JobEnvironment.withhold(alertSettings.secretVariables)
        let operations: OperationsServer.Configuration?
        do {
            operations = try OperationsServer.Configuration(
                listen: listen ?? Environment.value("SUNDIAL_LISTEN") ?? "127.0.0.1:9464")
        } catch {
            throw ValidationError("\(error)")
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let store = try database.openStore(logger: logger)
        do {
            try store.prewarm()
        } catch {
            throw CommandFailure("the executor could not start: \(error)")
        }
        let liveness = ShellLiveness()
        let executor = Executor(
            store: store, configuration: settings, handlers: HandlerRegistry(liveness: liveness), liveness: liveness,
            logger: logger)
        // Every executor delivers alerts, whoever raised them; with no channels it has nothing to do.
        let dispatcher = AlertDispatcher(
            store: store, settings: alertSettings, executorID: executor.identity.id,
            logger: logger)

        // SIGHUP: read the settings again; running tasks are not touched.
        signal(SIGHUP, SIG_IGN)
        let reload = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        reload.setEventHandler {
            do {
                var settings = try self.loadSettings()
                let alerts = try self.loadAlertSettings()
                settings.alerting = alerts.routing
                JobEnvironment.withhold(alerts.secretVariables)
                executor.reload(settings)
                dispatcher.update(alerts)
            } catch {
                logger.error("reload failed; keeping the current settings", metadata: ["error": "\(error)"])
            }
        }
        reload.resume()

        // Shut down in reverse order: the executor drains first while /readyz says so, and the
        // console answers until it has.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var console: WebServices?
        if let web {
            let webServices = try await web.services(store: store, logger: logger)
            services.append(.init(service: WebApplication.application(webServices)))
            services.append(.init(service: SessionPruner(services: webServices)))
            console = webServices
        }
        if let operations {
            let pools = PoolMetrics(database: store.database)
            let server = OperationsServer.application(
                operations, registry: registry, health: { executor.health }, beforeScrape: { pools.record() },
                logger: logger)
            services.append(.init(service: server))
        }
        services.append(.init(service: AlertService(dispatcher: dispatcher)))
        services.append(.init(service: ExecutorService(executor: executor)))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as StoreError {
            throw CommandFailure("the executor could not start: \(error)")
        }
        reload.cancel()
        try await console?.threads.shutdown()
        store.close()
    }

    /// The alert settings file named by the flag, the --config file or SUNDIAL_ALERTS; none: no alerts.
    func loadAlertSettings() throws -> AlertSettings {
        let file = try SettingsFile.read(config ?? Environment.value("SUNDIAL_CONFIG"))
        guard let path = alerts ?? file["alerts"] ?? Environment.value("SUNDIAL_ALERTS") else { return AlertSettings() }
        do {
            return try AlertSettings.load(path: path)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// Flags, then the --config file, then the environment, then defaults.
    func loadSettings() throws -> ExecutorConfiguration {
        let file = try SettingsFile.read(config ?? Environment.value("SUNDIAL_CONFIG"))
        func text(_ flag: String?, _ name: String) -> String? {
            flag ?? file[name]
                ?? Environment.value("SUNDIAL_" + name.uppercased().replacingOccurrences(of: "-", with: "_"))
        }
        func number<T: LosslessStringConvertible & Comparable>(
            _ flag: T?, _ name: String, _ range: ClosedRange<T>
        ) throws -> T? {
            guard let raw = flag.map({ "\($0)" }) ?? text(nil, name) else { return nil }
            guard let value = T(raw), range.contains(value) else {
                throw ValidationError("\(name) must be from \(range.lowerBound) to \(range.upperBound), not \(raw)")
            }
            return value
        }
        func duration(_ seconds: Double?) -> Duration? { seconds.map { .milliseconds(Int64($0 * 1000)) } }

        var settings = ExecutorConfiguration()
        settings.name = text(id, "id")
        if let v = try number(threads, "threads", 1...4096) { settings.threads = v }
        if let v = try number(batch, "batch", 1...10_000) { settings.batch = v }
        if let v = try number(queueAllowance, "queue-allowance", 0...100_000) { settings.queueAllowance = v }
        if let v = duration(try number(lease, "lease", 2...3600)) { settings.lease = v }
        if let v = duration(try number(heartbeat, "heartbeat", 0.05...60)) { settings.heartbeatInterval = v }
        if let v = duration(try number(pollInterval, "poll-interval", 0.001...60)) { settings.pollInterval = v }
        if let v = duration(try number(lookahead, "lookahead", 0...60)) { settings.lookahead = v }
        if let v = duration(try number(shutdownGrace, "shutdown-grace", 0...86_400)) { settings.shutdownGrace = v }
        if let days = try number(keepRunsDays, "keep-runs-days", 0...36_500) {
            settings.retention.maxAge = days == 0 ? nil : duration(days * 86_400)
        }
        if let runs = try number(keepRunsPerTask, "keep-runs-per-task", 0...100_000_000) {
            settings.retention.keepPerTask = runs == 0 ? nil : runs
        }
        if let hours = try number(keepExecutorsHours, "keep-executors-hours", 0...87_600) {
            settings.retention.executorAge = .seconds(hours * 3600)
        }
        if let raw = text(tags, "tags") {
            settings.tags = CommaList.items(raw)
        }
        guard settings.heartbeatInterval * 3 <= settings.lease else {
            throw ValidationError(
                "the lease (\(settings.lease)) must be at least three heartbeats (\(settings.heartbeatInterval))")
        }
        return settings
    }
}

/// `name = value` lines; `#` starts a comment.
enum SettingsFile {
    static func read(_ path: String?) throws -> [String: String] {
        guard let path else { return [:] }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("cannot read the settings file \(path)")
        }
        var settings: [String: String] = [:]
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("\(path):\(number + 1): expected name = value") }
            settings[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return settings
    }
}
