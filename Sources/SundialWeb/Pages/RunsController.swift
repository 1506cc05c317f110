import Foundation
import Hummingbird
import ServiceLifecycle
import SundialCore
import SundialSchedule

/// Every task's runs, filtered by status, period, executor and task; a run's page with its
/// output, error, exit code, attempt and times; the output as a download.
struct RunsController {
    let services: WebServices
    static let pageSize = 50
    /// Seconds one live-output connection lasts at most.
    static let liveSeconds = 120
    static let periods: [(String, String, TimeInterval?)] = [
        ("1h", "last hour", 3600), ("24h", "last day", 86_400), ("7d", "last week", 7 * 86_400),
        ("all", "any time", nil),
    ]

    // Strings, not optionals: Mustache looks a missing value up in the enclosing objects.
    struct Line {
        var id: Int64
        var link: String
        var task: String
        var taskLink: String
        var status: String
        var attempt: Int
        /// Schedule, retry, or run now by whom.
        var startedBy: String
        var executor: String
        var started: TimeText
        var duration: String
        var exitCode: String
        var error: String
    }

    struct Period {
        var value: String
        var label: String
        var selected: Bool
    }

    struct ListPage {
        var layout: Layout
        var lines: [Line]
        var statuses: [TasksController.Choice]
        var periods: [Period]
        var task: String
        var executor: String
        var nextPage: String?
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("runs") { request, context in try await list(request, context) }
        router.get("run") { request, context in try await show(request, context) }
        router.get("run/output") { request, context in try await output(request, context) }
        router.get("run/live") { request, context in try await live(request, context) }
    }

    private func list(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let query = request.queryFields
        var filter = RunFilter(anyTags: identity.scope.tags)
        filter.status = query["status"].flatMap { RunStatus(rawValue: String($0)) }
        filter.executor = query["executor"].flatMap { $0.isEmpty ? nil : $0 }
        let period = query["period"] ?? "24h"
        let taskName = query["task"].flatMap { $0.isEmpty ? nil : $0 }
        let before = query["before"].flatMap { Int64(String($0)) }
        let seconds = Self.periods.first { $0.0 == period }?.2
        let (limit, zone, asked) = (Self.pageSize, identity.timeZone, filter)
        let (runs, now) = try await services.blocking { store -> ([RunInfo], Date) in
            var filter = asked
            let now = try store.now()
            filter.since = seconds.map { now.addingTimeInterval(-$0) }
            if let taskName {
                guard let task = try store.task(named: taskName) else { return ([], now) }
                filter.taskID = task.id
            }
            return (try store.runs(filter, before: before, limit: limit + 1), now)
        }
        var page = ListPage(
            layout: Layout(title: "Runs", section: "runs", context: context, request: request),
            lines: runs.prefix(limit).map { Self.line($0, now: now, zone: zone) },
            statuses: RunStatus.allCases.map { .init(value: $0.rawValue, selected: $0 == filter.status) },
            periods: Self.periods.map { Period(value: $0.0, label: $0.1, selected: $0.0 == period) },
            task: taskName ?? "", executor: filter.executor ?? "")
        if runs.count > limit, let last = runs.prefix(limit).last {
            var items = query.pairs.filter { $0.0 != "before" }
            items.append(("before", "\(last.id)"))
            page.nextPage = "/runs?" + TasksController.queryString(items)
        }
        return services.templates.render("runs", page)
    }

    static func line(_ run: RunInfo, now: Date, zone: String) -> Line {
        Line(
            id: run.id, link: "/run?id=\(run.id)", task: run.taskName ?? "(deleted task \(run.taskID))",
            taskLink: run.taskName.map { "/task?" + TasksController.queryString([("name", $0)]) } ?? "",
            status: run.status.rawValue, attempt: run.attempt + 1, startedBy: run.startedBy, executor: run.executor,
            started: TimeText(run.startedAt, now: now, zone: zone),
            duration: DurationText.format((run.finishedAt ?? now).timeIntervalSince(run.startedAt)),
            exitCode: run.exitCode.map(String.init) ?? "", error: run.error ?? "")
    }

    struct RunPage {
        var layout: Layout
        var run: Line
        var scheduledFor: String
        var finished: String
        var running: Bool
        var output: String
        var hasOutput: Bool
    }

    /// The run the query names, if the viewer may see its task (404 otherwise), and the store's clock.
    private func visibleRun(_ request: Request, _ context: WebRequestContext) async throws -> (RunInfo, Date) {
        let identity = try context.require(.viewer)
        let id = request.queryFields["id"].flatMap { Int64($0) } ?? 0
        guard let found = try await services.run(id: id, visibleTo: identity) else {
            throw HTTPError(.notFound, message: "no run \(id)")
        }
        return found
    }

    private func show(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let (run, now) = try await visibleRun(request, context)
        let zone = context.identity?.timeZone ?? "UTC"
        let page = RunPage(
            layout: Layout(title: "Run \(run.id)", section: "runs", context: context, request: request),
            run: Self.line(run, now: now, zone: zone), scheduledFor: TimeText.format(run.scheduledFor, zone: zone),
            finished: run.finishedAt.map { TimeText.format($0, zone: zone) } ?? "still running",
            running: run.status == .running, output: run.output ?? "", hasOutput: !(run.output ?? "").isEmpty)
        return services.templates.render("run", page)
    }

    /// The run's output as it grows, as server-sent events: `output` (JSON: status and output so
    /// far) whenever it changes, then `end` once the run has ended. Read from the store about once
    /// a second, which the executor writes about once a second. A connection lasts two minutes at
    /// most (the browser reconnects, and access is checked again); a comment every 10 s finds a
    /// viewer who left; a shutdown ends every stream at once.
    private func live(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let (run, _) = try await visibleRun(request, context)
        let (id, services) = (run.id, services)
        struct Update: Encodable {
            var status: String
            var output: String
        }
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            var sent: Update?
            var quietFor = 0
            for _ in 0..<Self.liveSeconds {
                guard let run = try await services.blocking({ try $0.run(id: id) }) else { break }
                let update = Update(status: run.status.rawValue, output: run.output ?? "")
                if update.status != sent?.status || update.output != sent?.output {
                    let json = String(decoding: try JSONEncoder().encode(update), as: UTF8.self)
                    try await writer.write(ByteBuffer(string: "event: output\ndata: \(json)\n\n"))
                    (sent, quietFor) = (update, 0)
                } else {
                    quietFor += 1
                    // A write to a viewer who left fails, and ends the loop.
                    if quietFor % 10 == 0 { try await writer.write(ByteBuffer(string: ": still running\n\n")) }
                }
                if run.status != .running {
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {}\n\n"))
                    break
                }
                guard (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: .seconds(1)) })) != nil else {
                    break
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    private func output(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let (run, _) = try await visibleRun(request, context)
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/plain; charset=utf-8",
                .contentDisposition: "attachment; filename=\"sundial-run-\(run.id).txt\"",
            ], body: .init(byteBuffer: ByteBuffer(string: run.output ?? "")))
    }
}
