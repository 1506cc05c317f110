import SundialExecutor

/// Whether an executor should receive work (`/readyz`), decided from its health alone: each check
/// with a reason, so that a 503 says why.
public struct Readiness: Sendable, Equatable {
    public struct Check: Sendable, Equatable {
        public var name: String
        public var ok: Bool
        public var detail: String
    }

    public var checks: [Check]
    public var isReady: Bool { checks.allSatisfy(\.ok) }
    /// The first failing check's detail, or "ready".
    public var reason: String { checks.first { !$0.ok }?.detail ?? "ready" }

    public init(_ health: ExecutorHealth) {
        let storeAnswered = health.sinceStoreAnswered.map { $0 <= health.lease / 2 } ?? false
        checks = [
            Check(
                name: "database", ok: storeAnswered,
                detail: health.sinceStoreAnswered.map {
                    storeAnswered
                        ? "answered \(Self.seconds($0)) ago"
                        : "no answer for \(Self.seconds($0)) (half the lease is \(Self.seconds(health.lease / 2)))"
                } ?? "not reached yet"),
            Check(
                name: "lease", ok: health.registered && health.leaseRemaining > .zero,
                detail: !health.registered
                    ? "the lease was lost; registering again"
                    : "\(Self.seconds(health.leaseRemaining)) left of \(Self.seconds(health.lease))"),
            Check(
                name: "fencing", ok: !health.fenced,
                detail: health.fenced ? "fenced off: no lease renewal for most of the lease" : "not fenced"),
            Check(
                name: "results", ok: health.resultsStalledFor.map { $0 < health.lease / 2 } ?? true,
                detail: health.resultsStalledFor.map { "run results unwritten for \(Self.seconds($0))" }
                    ?? "written"),
            Check(
                name: "shutdown", ok: !health.stopping,
                detail: health.stopping ? "shutting down: finishing its runs" : "running"),
        ]
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value < 10 ? "\((value * 10).rounded() / 10) s" : "\(Int(value.rounded())) s"
    }
}
