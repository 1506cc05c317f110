import Foundation
import Hummingbird
import Logging
import Prometheus
import SundialCore
import SundialExecutor

/// The executor's operations endpoints over HTTP: `GET /metrics` (Prometheus text format),
/// `GET /livez` (and `/healthz`: the process answers), `GET /readyz` (ready for work: database
/// reachable, lease fresh, not fenced, results written, not shutting down; 503 with a JSON reason
/// otherwise, `?verbose` lists every check). Handlers read memory only: nothing blocks the event
/// loops. Probes are not logged.
public enum OperationsServer {
    public struct Configuration: Sendable {
        /// Where to listen (`--listen`, default 127.0.0.1:9464).
        public var host = "127.0.0.1"
        public var port = 9464

        public init() {}

        /// `HOST:PORT` (or `:PORT` for every interface); nil for `off`.
        public init?(listen: String) throws {
            guard listen != "off" else { return nil }
            let address: ListenAddress
            do {
                address = try ListenAddress(listen, flag: "--listen", example: "127.0.0.1:9464", alternative: "off")
            } catch {
                throw OperationsError(error.description)
            }
            (host, port) = (address.host, address.port)
        }
    }

    /// The routes, for the server and for tests.
    /// `beforeScrape` records levels read only when asked (connection pools: cheap, non-blocking).
    public static func router(
        registry: PrometheusCollectorRegistry, health: @escaping @Sendable () -> ExecutorHealth,
        beforeScrape: @escaping @Sendable () -> Void = {}
    ) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("metrics") { _, _ in
            beforeScrape()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let alive: @Sendable (Request, BasicRequestContext) -> String = { _, _ in "ok\n" }
        router.get("livez", use: alive)
        router.get("healthz", use: alive)
        router.get("readyz") { request, _ in
            let readiness = Readiness(health())
            var body: [String: Any] = ["ready": readiness.isReady, "reason": readiness.reason]
            if request.uri.queryParameters.has("verbose") {
                body["checks"] = readiness.checks.map { ["name": $0.name, "ok": $0.ok, "detail": $0.detail] }
            }
            let json = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
            return Response(
                status: readiness.isReady ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: json + [UInt8(ascii: "\n")])))
        }
        return router
    }

    /// The server as a swift-service-lifecycle `Service`.
    public static func application(
        _ configuration: Configuration, registry: PrometheusCollectorRegistry,
        health: @escaping @Sendable () -> ExecutorHealth, beforeScrape: @escaping @Sendable () -> Void = {},
        logger: Logger
    ) -> some ApplicationProtocol {
        Application(
            router: router(registry: registry, health: health, beforeScrape: beforeScrape),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port)), logger: logger)
    }
}

/// A bad operations setting.
public struct OperationsError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
