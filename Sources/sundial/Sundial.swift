import ArgumentParser
import Logging
import SundialActions
import SundialExecutor

/// Entry point: a shell supervisor first (see `ShellSupervisor`), the command line otherwise.
@main
enum Main {
    static func main() async {
        ShellSupervisor.runIfRequested()
        await Sundial.main()
    }
}

/// `sundial`: the distributed cron and task executor for MySQL.
struct Sundial: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial",
        abstract: "A distributed cron and task executor for MySQL/MariaDB.",
        discussion: """
            Jobs live in one `cron` table. Any number of `sundial executor` processes claim the rows \
            that are due and run them. Configuration comes from flags and SUNDIAL_* environment variables.
            """,
        subcommands: [
            ExecutorCommand.self, WebCommand.self, ServeCommand.self, TaskCommand.self, RunCommand.self,
            UserCommand.self,
            AlertCommand.self,
            MigrateCommand.self,
            CronCommand.self,
        ]
    )
}

/// Flags every command that logs shares.
struct LoggingOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. (env: SUNDIAL_LOG_LEVEL)")
    var logLevel: String?

    func makeLogger(label: String) throws -> Logger {
        let text = logLevel ?? Environment.value("SUNDIAL_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw ValidationError(
                "--log-level \(text) is not one of trace, debug, info, notice, warning, error, critical")
        }
        LoggingSystem.bootstrapOnce()
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

extension LoggingSystem {
    private static let bootstrapped: Bool = {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        return true
    }()

    static func bootstrapOnce() { _ = bootstrapped }
}
