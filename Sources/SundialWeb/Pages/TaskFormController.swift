import Foundation
import Hummingbird
import SundialCore
import SundialExecutor
import SundialSchedule

/// New, edit and clone: every column of a task in one form, checked by the code the executor
/// uses. A refused form saves nothing and says what is wrong next to the field; the schedule's
/// meaning and next fires follow the typing (`/schedule/preview`).
struct TaskFormController {
    let services: WebServices

    struct Field {
        var name: String
        var label: String
        var value: String
        var help: String
        var error: String?
        var choices: [TasksController.Choice]
        var hasChoices: Bool
        var multiline: Bool
        var checkbox: Bool
        var checked: Bool
        /// A one-line text box.
        var plain: Bool
    }

    struct FormPage {
        var layout: Layout
        var heading: String
        /// The task being edited; empty for a new one.
        var original: String
        var fields: [Field]
        var problem: String?
    }

    func register(on router: some RouterMethods<WebRequestContext>) {
        router.get("task/new") { request, context in try await newForm(request, context) }
        router.get("task/edit") { request, context in try await editForm(request, context) }
        router.post("tasks/save") { request, context in try await save(request, context) }
        router.get("schedule/preview") { request, context in try await preview(request, context) }
    }

    private func newForm(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.operator)
        var task = NewTask(name: "", action: "shell")
        if request.queryFields["clone"] != nil, let clone = request.queryFields["name"] {
            let row = try await visibleTask(clone, identity)
            task = NewTask(settingsOf: row, name: row.name + "-copy")
        }
        return render(context, request, task: task, original: "", errors: [:])
    }

    private func editForm(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.operator)
        let row = try await visibleTask(request.queryFields["name"] ?? "", identity)
        return render(context, request, task: NewTask(settingsOf: row, name: row.name), original: row.name, errors: [:])
    }

    private func visibleTask(_ name: String, _ identity: ConsoleIdentity) async throws -> TaskRow {
        guard let row = try await services.task(named: name, visibleTo: identity) else {
            throw HTTPError(.notFound, message: "no task named '\(name)'")
        }
        return row
    }

    private func save(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        let identity = try context.require(.operator)
        let form = try await FormFields.of(request)
        let original = form.text("original")
        var errors: [String: String] = [:]
        let task = Self.task(from: form, errors: &errors)
        // A user limited to some tags makes and edits only tasks within them.
        if !identity.scope.allowsWriting(taskTags: task.tags) {
            errors["tags", default: ""] = "every tag must be one of yours: \(identity.scope.stored ?? "")"
        }
        if let original {
            _ = try await visibleTask(original, identity)
        }
        guard errors.isEmpty else {
            return render(
                context, request, task: task, original: original ?? "", errors: errors, status: .unprocessableContent)
        }
        let admin = services.admin
        let outcome: TaskAdmin.AdminError? = try await services.threads.run {
            do {
                if let original { try admin.update(original, to: task) } else { try admin.add(task) }
                return nil
            } catch let error as TaskAdmin.AdminError {
                return error
            }
        }
        if let outcome {
            var errors: [String: String] = [:]
            errors[outcome.field ?? ""] = outcome.description
            return render(
                context, request, task: task, original: original ?? "", errors: errors, status: .unprocessableContent)
        }
        let name = original ?? task.name
        await services.audit(
            AuditDraft(
                actor: identity.actor, action: original == nil ? .taskCreate : .taskUpdate, subject: name,
                detail: Self.summary(task), address: context.clientAddress))
        let notice = original == nil ? "added '\(name)'" : "saved '\(name)'"
        return .redirect(
            to: "/task?" + TasksController.queryString([("name", name), ("notice", notice)]), type: .normal)
    }

    /// The form's task; fields that do not parse are named in `errors`.
    static func task(from form: FormFields, errors: inout [String: String]) -> NewTask {
        var task = NewTask(name: form.text("name") ?? form.text("original") ?? "", action: form.text("action") ?? "")
        if task.action.isEmpty { errors["action"] = "an action is needed" }
        task.payload = form.text("payload")
        task.schedule = form.text("schedule")
        task.timezone = form.text("timezone") ?? "UTC"
        func number<T: LosslessStringConvertible>(_ name: String, _ label: String) -> T? {
            guard let text = form.text(name) else { return nil }
            guard let value = T(text) else {
                errors[name] = "\(label) must be a number, not '\(text)'"
                return nil
            }
            return value
        }
        task.maxAttempts = number("max_attempts", "max attempts")
        task.backoffSeconds = number("backoff_seconds", "the backoff")
        task.timeoutSeconds = number("timeout_seconds", "the timeout")
        task.maxConcurrency = number("max_concurrency", "max concurrency")
        task.alertLateSeconds = number("alert_late_seconds", "the lateness")
        if let text = form.text("misfire_policy") {
            task.misfirePolicy = TaskRow.MisfirePolicy(rawValue: text)
            if task.misfirePolicy == nil { errors["misfire_policy"] = "unknown misfire policy '\(text)'" }
        }
        if let text = form.text("delivery") {
            task.delivery = TaskRow.Delivery(rawValue: text)
            if task.delivery == nil { errors["delivery"] = "unknown delivery '\(text)'" }
        }
        task.tags = form.text("tags")
        task.alerts = form.text("alerts")
        task.metrics = form["metrics"] == "1"
        return task
    }

    static func summary(_ task: NewTask) -> String {
        "action \(task.action), schedule \(task.schedule ?? "(once)") in \(task.timezone)"
            + (task.tags.map { ", tags \($0)" } ?? "")
    }

    private func render(
        _ context: WebRequestContext, _ request: Request, task: NewTask, original: String, errors: [String: String],
        status: HTTPResponse.Status = .ok
    ) -> Response {
        func field(
            _ name: String, _ label: String, _ value: String?, _ help: String, choices: [String]? = nil,
            multiline: Bool = false
        ) -> Field {
            Field(
                name: name, label: label, value: value ?? "", help: help, error: errors[name],
                choices: (choices ?? []).map { .init(value: $0, selected: $0 == (value ?? "")) },
                hasChoices: choices != nil, multiline: multiline, checkbox: false, checked: false,
                plain: choices == nil && !multiline)
        }
        var metrics = field("metrics", "Series of its own in /metrics", nil, "sundial_task_*{task=\"name\"}")
        (metrics.checkbox, metrics.checked, metrics.plain) = (true, task.metrics, false)
        let fields = [
            field("name", "Name", task.name, original.isEmpty ? "unique, 1 to 191 characters" : "the name stays"),
            field("action", "Action", task.action, "shell, http, noop, sleep, fail, or a handler of your own"),
            field("payload", "Payload", task.payload, "the action's settings, a JSON object", multiline: true),
            field(
                "schedule", "Schedule", task.schedule,
                "cron (5–7 fields), @daily, @every 90s, @at 2027-01-01T03:00:00Z; empty: once, now"),
            field("timezone", "Time zone", task.timezone, "IANA name, e.g. Europe/London"),
            field("max_attempts", "Max attempts", task.maxAttempts.map(String.init), "attempts per fire (default 1)"),
            field(
                "backoff_seconds", "Backoff (s)", task.backoffSeconds.map { "\($0)" },
                "before the first retry; doubles each time (default 10)"),
            field(
                "timeout_seconds", "Timeout (s)", task.timeoutSeconds.map { "\($0)" },
                "the run is killed after this (default 3600)"),
            field(
                "max_concurrency", "Max concurrency", task.maxConcurrency.map(String.init),
                "runs at once (default 1: never overlaps itself)"),
            field(
                "misfire_policy", "Misfire policy", task.misfirePolicy?.rawValue ?? "run_once",
                "fires missed while down", choices: TaskRow.MisfirePolicy.allCases.map(\.rawValue)),
            field(
                "delivery", "Delivery", task.delivery?.rawValue ?? "at_least_once", "when an executor dies mid-run",
                choices: TaskRow.Delivery.allCases.map(\.rawValue)),
            field("tags", "Tags", task.tags, "comma-separated; only executors with one of them run it"),
            field("alerts", "Alert channels", task.alerts, "comma-separated, besides the defaults"),
            field(
                "alert_late_seconds", "Late after (s)", task.alertLateSeconds.map { "\($0)" },
                "raises missed (default: the settings' 60)"),
            metrics,
        ]
        let page = FormPage(
            layout: Layout(
                title: original.isEmpty ? "New task" : "Edit \(original)", section: "tasks", context: context,
                request: request),
            heading: original.isEmpty ? "New task" : "Edit \(original)", original: original, fields: fields,
            problem: errors.isEmpty ? nil : (errors[""] ?? "Nothing was saved: see the fields marked below."))
        return services.templates.render("task-form", page, status: status)
    }

    // MARK: Schedule preview

    struct Preview: Encodable {
        var valid: Bool
        var description: String?
        var error: String?
        var fires: [SchedulePreviewer.Fire]
    }

    /// The meaning and next fires of a schedule as it is typed (`expr`, `tz`, `count` up to 50).
    private func preview(_ request: Request, _ context: WebRequestContext) async throws -> Response {
        _ = try context.require(.viewer)
        let query = request.queryFields
        let now = try await services.blocking { try $0.now() }
        let found = SchedulePreviewer.preview(
            query["expr"] ?? "",
            zone: query["tz"].flatMap { $0.isEmpty ? nil : $0 } ?? "UTC",
            count: query["count"].flatMap { Int(String($0)) } ?? 10, now: now)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let body = try encoder.encode(
            Preview(valid: found.valid, description: found.description, error: found.error, fires: found.fires))
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
