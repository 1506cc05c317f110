import Logging
import ServiceLifecycle
import SundialCore

/// Deletes expired sessions now and then (every web process does a little), so that the table
/// holds live sessions and not every visit of the login page there ever was.
public struct SessionPruner: Service {
    let services: WebServices
    var interval: Duration = .seconds(60)

    public init(services: WebServices) {
        self.services = services
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                var deleted = 0
                repeat {
                    deleted = try await services.blocking { try $0.pruneSessions(limit: 1000) }
                } while deleted == 1000
            } catch {
                services.logger.warning("could not delete expired sessions", metadata: ["error": "\(error)"])
            }
            // Ends at once on SIGTERM: a sleeping pruner must not hold the shutdown up.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
