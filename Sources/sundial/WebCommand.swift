import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import SundialActions
import SundialCore
import SundialExecutor
import SundialWeb

/// `sundial web`: the admin console and the REST API, until SIGTERM or SIGINT.
struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web",
        abstract: "Serve the web console until SIGTERM/SIGINT.",
        discussion: """
            Sign in with a user made by `sundial user add NAME --role admin`: there are no default \
            credentials. Behind a TLS proxy, pass --public-url https://… so that cookies are Secure.
            """)

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions
    @OptionGroup var web: WebOptions

    func run() async throws {
        let logger = try logging.makeLogger(label: "sundial.web")
        let store = try database.openStore(logger: logger)
        let services = try await web.services(store: store, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: WebApplication.application(services)),
                    .init(service: SessionPruner(services: services)),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.notice("console at http://\(services.configuration.host):\(services.configuration.port)/")
        try await group.run()
        try await services.threads.shutdown()
        store.close()
    }
}

/// The web server's flags, shared by `sundial web` and `sundial serve`.
struct WebOptions: ParsableArguments {
    @Option(help: "Where the console listens, HOST:PORT. (env: SUNDIAL_WEB_LISTEN; default 127.0.0.1:8080)")
    var webListen: String?
    @Option(help: "The address people use; https makes cookies Secure. (env: SUNDIAL_PUBLIC_URL)")
    var publicURL: String?

    func services(store: any SundialStore, logger: Logger) async throws -> WebServices {
        var configuration = WebConfiguration()
        do {
            try configuration.listen(webListen ?? Environment.value("SUNDIAL_WEB_LISTEN") ?? "127.0.0.1:8080")
        } catch {
            throw ValidationError("\(error)")
        }
        if let text = publicURL ?? Environment.value("SUNDIAL_PUBLIC_URL") {
            guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
                throw ValidationError("--public-url takes an http:// or https:// address, not '\(text)'")
            }
            configuration.publicURL = url
        } else {
            configuration.publicURL = URL(string: "http://\(configuration.host):\(configuration.port)")!
        }
        return WebServices(
            admin: .forTools(store: store), threads: BlockingThreads(count: configuration.blockingThreads),
            templates: try await Templates.load(), configuration: configuration, logger: logger)
    }
}
