import NIOPosix

/// Threads of the web server's own for blocking work: store calls (the MySQL client blocks) and
/// bcrypt. Event loops and Swift's cooperative pool never wait on them.
public final class BlockingThreads: Sendable {
    private let pool: NIOThreadPool

    public init(count: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, count))
        pool.start()
    }

    /// Runs `body` on one of the threads and waits for it without blocking the caller's thread.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }

    public func shutdown() async throws {
        try await pool.shutdownGracefully()
    }
}
