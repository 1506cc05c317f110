import Foundation
import ServiceLifecycle

/// The dispatcher as a swift-service-lifecycle `Service`: delivering until the group shuts down.
public struct AlertService: Service {
    public let dispatcher: AlertDispatcher

    public init(dispatcher: AlertDispatcher) {
        self.dispatcher = dispatcher
    }

    public func run() async throws {
        let dispatcher = self.dispatcher
        dispatcher.start()
        try? await gracefulShutdown()
        // The stop waits for a delivery in progress: on a thread of its own, not Swift's pool.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                dispatcher.stop()
                continuation.resume()
            }
        }
    }
}
