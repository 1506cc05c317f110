import Foundation
import Hummingbird
import SundialCore
import SundialExecutor
import SundialSchedule

/// The task list and a task's page, and what operators do to tasks. Every change goes through
/// `TaskAdmin` (the executor's own validation) and into the audit log. Tasks outside a user's
/// scope do not exist for them.
struct TasksController {
    let services: WebServices
    static let pageSize = 50

    struct Row {
        var name: String
        /// The task page's address, the name percent-encoded.
        var link: String
        var action: String
        var status: String
        var schedule: String
        var nextRun: TimeText?
        var running: Bool
        var failing: Bool
        var tags: String
    }

    struct ListPage {
        var layout: Layout
        var rows: [Row]
        var search: String
        var statuses: [Choice]
        var action: String
        var tag: String
        var nextPage: String?
        var empty: Bool
    }

    struct Choice {
        var value: String
        var selected: Bool
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("tasks") { request, context in try await list(request, context) }
        router.get("task") { request, context in try await show(request, context) }
        router.post("task/:verb") { request, context in try await act(request, context) }
    }

    private func list(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let query = request.queryFields
        var filter = TaskFilter()
        filter.search = query["q"].flatMap { $0.isEmpty ? nil : $0 }
        filter.status = query["status"].flatMap { TaskStatus(rawValue: String($0)) }
        filter.action = query["action"].flatMap { $0.isEmpty ? nil : $0 }
        let tag = query["tag"].flatMap { $0.isEmpty ? nil : $0 }
        filter.anyTags = Self.tags(tag, within: identity.scope)
        let after = query["after"]
        let (limit, asked) = (Self.pageSize, filter)
        let (rows, now) = try await services.blocking { store in
            (try store.tasks(asked, after: after, limit: limit + 1), try store.now())
        }
        var page = ListPage(
            layout: Layout(title: "Tasks", section: "tasks", context: context, request: request),
            rows: rows.prefix(limit).map { row in
                Row(
                    name: row.name, link: "/task?" + Self.queryString([("name", row.name)]), action: row.action,
                    status: row.status.rawValue, schedule: row.schedule ?? "(once)",
                    nextRun: row.nextRun.map { TimeText($0, now: now, zone: identity.timeZone) },
                    running: row.claimToken != nil, failing: row.failing, tags: row.tags ?? "")
            },
            search: filter.search ?? "",
            statuses: TaskStatus.allCases.map { Choice(value: $0.rawValue, selected: $0 == filter.status) },
            action: filter.action ?? "", tag: tag ?? "", nextPage: nil, empty: rows.isEmpty)
        if rows.count > limit, let last = rows.prefix(limit).last {
            var items = query.pairs.filter { $0.0 != "after" }
            items.append(("after", last.name))
            page.nextPage = "/tasks?" + Self.queryString(items)
        }
        return services.templates.render("tasks", page)
    }

    /// The tags a listing asks for, within what the user may see: nil for all tasks.
    static func tags(_ asked: String?, within scope: TaskScope) -> Set<String>? {
        switch (asked, scope.tags) {
        case (nil, let allowed): allowed
        case (let asked?, nil): [asked]
        case (let asked?, let allowed?): allowed.contains(asked) ? [asked] : []
        }
    }

    static func queryString(_ items: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return items.map {
            "\($0.0.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")="
                + "\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")"
        }.joined(separator: "&")
    }

    // MARK: One task

    struct Setting {
        var name: String
        var value: String
    }

    struct Fire {
        var zoned: String
        var utc: String
        var relative: String
        var afterTransition: Bool
    }

    struct TaskPage {
        var layout: Layout
        var name: String
        /// `name=…`, percent-encoded, for links.
        var nameQuery: String
        var status: String
        var running: Bool
        var resumable: Bool
        var error: String?
        var waiting: String?
        var scheduleText: String?
        var scheduleDescription: String?
        var timezone: String
        var settings: [Setting]
        var fires: [Fire]
        var runs: [RunsController.Line]
        var lastOutput: String?
    }

    private func show(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let name = request.queryFields["name"] ?? ""
        let admin = services.admin
        let details = try await services.threads.run { () -> TaskAdmin.Details? in
            do { return try admin.show(name, runs: 20) } catch is TaskAdmin.AdminError { return nil }
        }
        guard let details, identity.scope.contains(taskTags: details.task.tags) else {
            throw HTTPError(.notFound, message: "no task named '\(name)'")
        }
        let task = details.task
        let now = details.databaseNow
        let schedule = try? task.schedule.map { try Schedule($0, timeZone: task.timezone) }
        var fires: [Fire] = []
        if let schedule, task.status == .active || task.status == .paused {
            let zone = TimeZone(identifier: task.timezone) ?? TimeZone(identifier: "UTC")!
            var previousOffset = zone.secondsFromGMT(for: now)
            for fire in schedule.next(after: now, count: 10) {
                let offset = zone.secondsFromGMT(for: fire)
                fires.append(
                    Fire(
                        zoned: TimeText.format(fire, zone: task.timezone), utc: RFC3339.format(fire),
                        relative: TimeText.relative(fire.timeIntervalSince(now)),
                        afterTransition: offset != previousOffset))
                previousOffset = offset
            }
        }
        let page = TaskPage(
            layout: Layout(title: task.name, section: "tasks", context: context, request: request),
            name: task.name, nameQuery: Self.queryString([("name", task.name)]), status: task.status.rawValue,
            running: task.claimToken != nil,
            resumable: task.status == .paused || task.status == .invalid,
            error: task.error, waiting: details.waiting, scheduleText: task.schedule,
            scheduleDescription: schedule?.description, timezone: task.timezone,
            settings: Self.settings(task, now: now, zone: identity.timeZone), fires: fires,
            runs: details.runs.map { RunsController.line($0, now: now, zone: identity.timeZone) },
            lastOutput: details.runs.first(where: { $0.output?.isEmpty == false })?.output)
        return services.templates.render("task", page)
    }

    static func settings(_ task: TaskRow, now: Date, zone: String) -> [Setting] {
        func time(_ date: Date?) -> String { date.map { TimeText.format($0, zone: zone) } ?? "-" }
        return [
            Setting(name: "action", value: task.action),
            Setting(name: "payload", value: task.payload ?? "{}"),
            Setting(name: "schedule", value: task.schedule ?? "(once)"),
            Setting(name: "timezone", value: task.timezone),
            Setting(name: "next_run", value: time(task.nextRun)),
            Setting(name: "attempt", value: "\(task.attempt + 1) of \(task.maxAttempts)"),
            Setting(name: "backoff_seconds", value: "\(task.backoffSeconds)"),
            Setting(name: "timeout_seconds", value: task.timeoutSeconds.map { "\($0)" } ?? "none"),
            Setting(name: "max_concurrency", value: "\(task.maxConcurrency)"),
            Setting(name: "misfire_policy", value: task.misfirePolicy.rawValue),
            Setting(name: "delivery", value: task.delivery.rawValue),
            Setting(name: "tags", value: task.tags ?? "-"),
            Setting(name: "alerts", value: task.alerts ?? "-"),
            Setting(name: "last_duration", value: DurationText.format(task.lastDuration)),
            Setting(name: "last_success_at", value: time(task.lastSuccessAt)),
            Setting(name: "claimed_by", value: task.claimedBy ?? "-"),
        ]
    }

    // MARK: Actions

    private func act(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.operator)
        let form = try await FormFields.of(request)
        let name = form["name"] ?? ""
        guard let verb = TaskActions.Verb(rawValue: context.parameters.get("verb") ?? "") else {
            throw HTTPError(.notFound)
        }
        switch try await TaskActions(services: services).perform(
            verb, name: name, by: identity, address: context.clientAddress)
        {
        case .success(let notice):
            let back = verb == .delete ? "/tasks" : "/task?" + Self.queryString([("name", name)])
            return .redirect(
                to: back + (back.contains("?") ? "&" : "?") + Self.queryString([("notice", notice)]), type: .normal)
        case .failure(let error):
            return .redirect(
                to: "/task?" + Self.queryString([("name", name), ("problem", error.description)]), type: .normal)
        }
    }
}
