import Foundation

/// Who an executor is in `cron_executor` and in `claimed_by`.
public struct ExecutorIdentity: Sendable, Equatable {
    /// Unique per process: the name with a random suffix, so that a restarted executor with the
    /// same name never mistakes its dead predecessor's claims for its own.
    public var id: String
    public var host: String
    public var pid: Int32
    public var threads: Int
    public var tags: [String]

    public init(name: String?, threads: Int, tags: [String]) {
        host = ProcessInfo.processInfo.hostName
        pid = ProcessInfo.processInfo.processIdentifier
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        id = "\(name ?? "\(host):\(pid)")/\(suffix)"
        self.threads = threads
        self.tags = tags
    }
}
