import Foundation
import Hummingbird
import SundialCore

/// The executors: live ones with their load and lease, and recently stopped or dead ones.
struct ExecutorsController {
    let services: WebServices

    struct Line {
        var id: String
        var host: String
        var pid: Int32
        var busy: Int
        var threads: Int
        var tags: String
        var actions: String
        var state: String
        var leaseLeft: String
        var started: TimeText
        var heartbeat: TimeText
        var alive: Bool
    }

    struct Page {
        var layout: Layout
        var live: [Line]
        var gone: [Line]
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("executors") { request, context in try await list(request, context) }
    }

    private func list(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let (executors, now) = try await services.blocking { store in (try store.executors(), try store.now()) }
        let lines = executors.map { e in
            Line(
                id: e.id, host: e.host, pid: e.pid, busy: e.busy, threads: e.threads,
                tags: e.tags.joined(separator: ", "), actions: e.actions.joined(separator: ", "),
                state: e.state.rawValue,
                leaseLeft: DurationText.format(max(0, e.leaseExpiresAt.timeIntervalSince(now))),
                started: TimeText(e.startedAt, now: now, zone: identity.timeZone),
                heartbeat: TimeText(e.heartbeat, now: now, zone: identity.timeZone),
                alive: (e.state == .running || e.state == .stopping) && e.leaseExpiresAt > now)
        }
        return services.templates.render(
            "executors",
            Page(
                layout: Layout(title: "Executors", section: "executors", context: context, request: request),
                live: lines.filter(\.alive), gone: lines.filter { !$0.alive }))
    }
}
