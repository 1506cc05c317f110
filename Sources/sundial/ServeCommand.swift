import ArgumentParser

/// `sundial serve`: an executor and the web console in one process, for small installations.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run an executor and the web console in one process until SIGTERM/SIGINT.",
        discussion: """
            Takes every flag of `sundial executor` and of `sundial web`. On SIGTERM the executor \
            drains first; the console answers until it has.
            """)

    @OptionGroup var executor: ExecutorCommand
    @OptionGroup var web: WebOptions

    func run() async throws {
        try await executor.run(alsoServing: web)
    }
}
