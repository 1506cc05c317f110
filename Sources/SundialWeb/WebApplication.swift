import Foundation
import Hummingbird
import HummingbirdAuth
import Logging
import OpenAPIHummingbird
import SundialCore

/// The console and the API as one Hummingbird application.
public enum WebApplication {
    /// The routes, for the server and for tests.
    public static func router(_ services: WebServices) -> Router<WebRequestContext> {
        let router = Router(context: WebRequestContext.self)
        let sessions = SessionController(services: services)
        router.addMiddleware {
            // Method and address (path and query) only: never headers (cookies, bearer tokens) nor
            // bodies (passwords).
            LogRequestsMiddleware(.debug)
            SecurityHeadersMiddleware()
            SessionLoadGuard()
            SessionMiddleware(
                storage: StoreSessionDriver(
                    store: services.store, threads: services.threads,
                    defaultLifetime: services.configuration.sessionLifetime),
                configuration: SessionMiddlewareConfiguration(
                    sessionCookieParameters: SessionCookieParameters(
                        name: services.configuration.secureCookies ? "__Host-sundial" : "sundial", path: "/",
                        secure: services.configuration.secureCookies, sameSite: .lax),
                    keyPrefix: "", defaultSessionExpiration: services.configuration.sessionLifetime))
            ErrorPageMiddleware(templates: services.templates, apiRoutes: APIRoutes(document: services.document)) {
                request, context in
                sessions.loginPage(request, context, status: .unauthorized)
            }
            IdentityMiddleware(store: services.store, threads: services.threads)
            FormMiddleware()
        }
        router.get("static/:file") { _, context in
            guard let file = services.templates.file(context.parameters.get("file") ?? "") else {
                throw HTTPError(.notFound)
            }
            return file
        }
        DashboardController(services: services).register(on: router)
        sessions.register(on: router)
        TasksController(services: services).register(on: router)
        RunsController(services: services).register(on: router)
        TaskFormController(services: services).register(on: router)
        ExecutorsController(services: services).register(on: router)
        AuditController(services: services).register(on: router)
        UsersController(services: services).register(on: router)
        SettingsController(services: services).register(on: router)
        // The REST API: the document as written, and the server generated from it.
        router.get("api/v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: services.document)))
        }
        let api = router.group().add(middleware: APIContextMiddleware())
        // Throws only for a server URL it cannot read; this one is fixed.
        try! APIHandler(services: services).registerHandlers(on: api, serverURL: URL(string: "/api/v1")!)
        return router
    }

    /// The server as a swift-service-lifecycle `Service`.
    public static func application(_ services: WebServices) -> some ApplicationProtocol {
        Application(
            router: router(services),
            configuration: .init(
                address: .hostname(services.configuration.host, port: services.configuration.port),
                serverName: nil),
            logger: services.logger)
    }
}
