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
        var sorts: [Choice]
        /// The filter as hidden fields, for the bulk form.
        var filterFields: [Choice]
        var verbs: [Choice]
        var nextPage: String?
        var empty: Bool
    }

    struct Choice {
        var value: String
        var label: String = ""
        var selected: Bool
    }

    static let sortLabels: [TaskOrder: String] = [
        .name: "name", .nextRun: "next run (soonest first)", .lastResult: "last result (failing first)",
    ]

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("tasks") { request, context in try await list(request, context) }
        router.post("tasks/bulk") { request, context in try await bulk(request, context) }
        router.get("task") { request, context in try await show(request, context) }
        router.post("task/:verb") { request, context in try await act(request, context) }
    }

    /// The listing's filter from a page's query (or a bulk form's fields), within the user's scope.
    static func filter(_ fields: FormFields, scope: TaskScope) -> (filter: TaskFilter, tag: String?) {
        var filter = TaskFilter()
        filter.search = fields["q"].flatMap { $0.isEmpty ? nil : $0 }
        filter.status = fields["status"].flatMap { TaskStatus(rawValue: String($0)) }
        filter.action = fields["action"].flatMap { $0.isEmpty ? nil : $0 }
        filter.order = fields["sort"].flatMap { TaskOrder(rawValue: $0) } ?? .name
        let tag = fields["tag"].flatMap { $0.isEmpty ? nil : $0 }
        filter.anyTags = Self.tags(tag, within: scope)
        return (filter, tag)
    }

    private func list(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let query = request.queryFields
        let (filter, tag) = Self.filter(query, scope: identity.scope)
        // A cursor from another order (an edited link) starts from the top.
        let after = query["after"].flatMap { TaskCursor(token: $0, order: filter.order) }
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
            action: filter.action ?? "", tag: tag ?? "",
            sorts: TaskOrder.allCases.map {
                Choice(value: $0.rawValue, label: Self.sortLabels[$0] ?? $0.rawValue, selected: $0 == filter.order)
            },
            filterFields: ["q", "status", "action", "tag"].compactMap { key in
                query[key].flatMap { $0.isEmpty ? nil : Choice(value: $0, label: key, selected: true) }
            },
            verbs: BulkPage.verbs.map { Choice(value: $0.verb.rawValue, label: $0.label, selected: false) },
            nextPage: nil, empty: rows.isEmpty)
        if rows.count > limit, let last = rows.prefix(limit).last {
            var items = query.pairs.filter { $0.0 != "after" }
            items.append(("after", TaskCursor(after: last, order: filter.order).token))
            page.nextPage = "/tasks?" + Self.queryString(items)
        }
        return services.templates.render("tasks", page)
    }

    // MARK: Bulk actions

    struct BulkPage {
        static let verbs: [(verb: TaskActions.Verb, label: String)] = [
            (.pause, "Pause"), (.resume, "Resume"), (.run, "Run now"), (.delete, "Delete"),
        ]
        static let namesShown = 20

        var layout: Layout
        /// What the form asks: "Pause", and whom: "the 3 selected tasks".
        var verbLabel: String
        var verb: String
        var target: String
        var count: Int
        var names: [String]
        /// Names not shown (nil: none).
        var more: Int?
        var fields: [Choice]
        var confirming: Bool
        var danger: Bool
        /// After the action: how many changed, and the refusals.
        var changed: Int
        var failures: [Choice]
        var drift: String?
        var back: String
    }

    /// Two steps, both without script: the form's answer shows what would be done to how many
    /// tasks (the filter counted now) and asks again; the confirmed form does it, each task
    /// checked and audited on its own, and says what changed and what was refused.
    private func bulk(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.operator)
        let form = try await FormFields.of(request)
        guard let verb = form["verb"].flatMap(TaskActions.Verb.init(rawValue:)),
            let label = BulkPage.verbs.first(where: { $0.verb == verb })?.label
        else {
            throw HTTPError(.badRequest, message: "choose what to do to the tasks: pause, resume, run or delete")
        }
        let everyMatch = form["scope"] == "filter"
        let actions = TaskActions(services: services)
        let (filter, _) = Self.filter(form, scope: identity.scope)
        let filterItems = ["q", "status", "action", "tag"].compactMap { key in
            form[key].flatMap { $0.isEmpty ? nil : (key, $0) }
        }
        let back = "/tasks" + (filterItems.isEmpty ? "" : "?" + Self.queryString(filterItems))
        func refuse(_ problem: String) -> Response {
            .redirect(
                to: back + (filterItems.isEmpty ? "?" : "&") + Self.queryString([("problem", problem)]), type: .normal)
        }
        let names: [String]
        do {
            names = everyMatch ? try await actions.names(matching: filter) : Array(Set(form.all("name"))).sorted()
        } catch let error as TaskAdmin.AdminError {
            return refuse(error.description)
        }
        guard !names.isEmpty else {
            return refuse(everyMatch ? "no task matches the filter" : "select at least one task")
        }
        guard names.count <= TaskActions.bulkLimit else {
            return refuse("select at most \(TaskActions.bulkLimit) tasks, the most one bulk action covers")
        }
        // What was confirmed is these very tasks: if the filter matches others by the time the
        // confirmation comes back, it is asked again.
        let digest = Secrets.sha256Hex(names.joined(separator: "\n"))
        var fields = filterItems.map { Choice(value: $0.1, label: $0.0, selected: true) }
        fields.append(Choice(value: verb.rawValue, label: "verb", selected: true))
        if everyMatch {
            fields.append(Choice(value: "filter", label: "scope", selected: true))
            fields.append(Choice(value: digest, label: "digest", selected: true))
        } else {
            fields += names.map { Choice(value: $0, label: "name", selected: true) }
        }
        let target =
            everyMatch
            ? "every task matching the filter: \(names.count) task\(names.count == 1 ? "" : "s")"
            : "the \(names.count) selected task\(names.count == 1 ? "" : "s")"
        var page = BulkPage(
            layout: Layout(title: "\(label) tasks", section: "tasks", context: context),
            verbLabel: label, verb: verb.rawValue, target: target, count: names.count,
            names: Array(names.prefix(BulkPage.namesShown)),
            more: names.count > BulkPage.namesShown ? names.count - BulkPage.namesShown : nil,
            fields: fields, confirming: form["confirm"] != "1", danger: verb == .delete, changed: 0, failures: [],
            drift: nil, back: back)
        if everyMatch, !page.confirming, form["digest"] != digest {
            page.confirming = true
            page.drift =
                "The tasks matching the filter changed since this page was shown: nothing was done. "
                + "Check them and confirm again."
        }
        if page.confirming { return services.templates.render("tasks-bulk", page) }
        let outcome = try await actions.performAll(verb, names: names, by: identity, address: context.clientAddress)
        page.changed = outcome.changed
        page.failures = outcome.failures.map { Choice(value: $0.message, label: $0.name, selected: false) }
        return services.templates.render("tasks-bulk", page)
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
        /// The run history's filters, and its next (older) page.
        var runStatuses: [Choice]
        var periods: [RunsController.Period]
        var olderRuns: String?
        var filtered: Bool
        var durationChart: String?
        var lastOutput: String?
    }

    static let historyPageSize = 50

    private func show(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.viewer)
        let query = request.queryFields
        let name = query["name"] ?? ""
        let admin = services.admin
        // The run history: by status and period, newest first, in pages.
        let runFilter = RunFilter(status: query["status"].flatMap { RunStatus(rawValue: $0) })
        let period = query["period"].flatMap { p in RunsController.periods.contains { $0.0 == p } ? p : nil } ?? "all"
        let seconds = RunsController.periods.first { $0.0 == period }?.2
        let before = query["before"].flatMap { Int64($0) }
        let limit = Self.historyPageSize
        let found = try await services.threads.run { () -> (TaskAdmin.Details, [RunInfo])? in
            do {
                let details = try admin.show(name, runs: 20)
                var filter = runFilter
                filter.taskID = details.task.id
                filter.since = seconds.map { details.databaseNow.addingTimeInterval(-$0) }
                return (details, try admin.store.runs(filter, before: before, limit: limit + 1))
            } catch is TaskAdmin.AdminError { return nil }
        }
        guard let (details, history) = found, identity.scope.contains(taskTags: details.task.tags) else {
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
        var page = TaskPage(
            layout: Layout(title: task.name, section: "tasks", context: context, request: request),
            name: task.name, nameQuery: Self.queryString([("name", task.name)]), status: task.status.rawValue,
            running: task.claimToken != nil,
            resumable: task.status == .paused || task.status == .invalid,
            error: task.error, waiting: details.waiting, scheduleText: task.schedule,
            scheduleDescription: schedule?.description, timezone: task.timezone,
            settings: Self.settings(task, now: now, zone: identity.timeZone), fires: fires,
            runs: history.prefix(limit).map { RunsController.line($0, now: now, zone: identity.timeZone) },
            runStatuses: RunStatus.allCases.map { Choice(value: $0.rawValue, selected: $0 == runFilter.status) },
            periods: RunsController.periods.map { .init(value: $0.0, label: $0.1, selected: $0.0 == period) },
            filtered: runFilter.status != nil || period != "all" || before != nil,
            durationChart: DurationChart.svg(Array(history.prefix(limit)), now: now),
            lastOutput: details.runs.first(where: { $0.output?.isEmpty == false })?.output)
        if history.count > limit, let last = history.prefix(limit).last {
            var items = query.pairs.filter { $0.0 != "before" && $0.0 != "notice" && $0.0 != "problem" }
            items.append(("before", "\(last.id)"))
            page.olderRuns = "/task?" + Self.queryString(items)
        }
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
