import Foundation
import ServiceLifecycle

/// The executor as a swift-service-lifecycle `Service`: it starts on its own threads and stops
/// gracefully (`Executor.stop`) when the service group shuts down (SIGTERM, SIGINT).
public struct ExecutorService: Service {
    public let executor: Executor

    public init(executor: Executor) {
        self.executor = executor
    }

    public func run() async throws {
        let executor = self.executor
        try await Self.onOwnThread { try executor.start() }
        // Suspends until the group shuts down; a cancellation ends it the same way.
        try? await gracefulShutdown()
        try await Self.onOwnThread { executor.stop() }
    }

    /// Blocking work goes to a thread of its own, never Swift's cooperative pool.
    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            thread.start()
        }
    }
}
