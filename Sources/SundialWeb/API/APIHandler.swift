import Foundation
import HTTPTypes
import Hummingbird
import OpenAPIRuntime
import SundialAPI
import SundialCore
import SundialExecutor

/// The REST API: `APIProtocol`, generated from `openapi.json`, implemented over the same
/// `TaskAdmin`, `UserAdmin` and store calls the console uses. Refusals are thrown as `APIError`s
/// and written by the error middleware as the document's `ErrorBody`.
struct APIHandler: APIProtocol {
    let services: WebServices
    typealias Schemas = Components.Schemas

    // MARK: Tasks

    func listTasks(_ input: Operations.ListTasks.Input) async throws -> Operations.ListTasks.Output {
        let identity = try APICaller.require(.viewer)
        let query = input.query
        var filter = TaskFilter(search: query.search, action: query.action)
        filter.status = query.status.flatMap { TaskStatus(rawValue: $0.rawValue) }
        filter.anyTags = TasksController.tags(query.tag, within: identity.scope)
        filter.order = query.sort.flatMap { TaskOrder(rawValue: $0.rawValue) } ?? .name
        try APILimits.check(query.limit, 1...1000, "limit")
        var after: TaskCursor? = nil
        if let token = query.cursor, !token.isEmpty {
            guard let cursor = TaskCursor(token: token, order: filter.order) else {
                throw APIError.invalid(
                    "the cursor is not one of this order's (sort=\(filter.order.rawValue))", field: "cursor")
            }
            after = cursor
        }
        let (limit, asked, start) = (query.limit ?? 100, filter, after)
        let rows = try await services.blocking { try $0.tasks(asked, after: start, limit: limit + 1) }
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last.map { TaskCursor(after: $0, order: asked.order).token } : nil
        return .ok(.init(body: .json(.init(items: page.map(Self.task), nextCursor: next))))
    }

    func createTask(_ input: Operations.CreateTask.Input) async throws -> Operations.CreateTask.Output {
        let identity = try APICaller.require(.operator)
        guard case .json(let body) = input.body else { throw APIError(.badRequest, "bad_request", "send JSON") }
        guard let name = body.name else { throw APIError.invalid("a new task needs a name", field: "name") }
        let task = try Self.newTask(name: name, from: body, scope: identity.scope)
        let admin = services.admin
        let row = try await services.threads.run { try Self.admin { try admin.add(task) } }
        await services.audit(
            AuditDraft(
                actor: identity.actor, action: .taskCreate, subject: name, detail: TaskFormController.summary(task),
                address: APICaller.current.address))
        return .created(.init(body: .json(Self.task(row))))
    }

    func getTask(_ input: Operations.GetTask.Input) async throws -> Operations.GetTask.Output {
        let identity = try APICaller.require(.viewer)
        return .ok(.init(body: .json(Self.task(try await visibleTask(input.path.name, identity)))))
    }

    func updateTask(_ input: Operations.UpdateTask.Input) async throws -> Operations.UpdateTask.Output {
        let identity = try APICaller.require(.operator)
        guard case .json(let body) = input.body else { throw APIError(.badRequest, "bad_request", "send JSON") }
        let name = input.path.name
        _ = try await visibleTask(name, identity)
        let task = try Self.newTask(name: name, from: body, scope: identity.scope)
        let admin = services.admin
        try await services.threads.run { try Self.admin { try admin.update(name, to: task) } }
        await services.audit(
            AuditDraft(
                actor: identity.actor, action: .taskUpdate, subject: name, detail: TaskFormController.summary(task),
                address: APICaller.current.address))
        return .ok(.init(body: .json(Self.task(try await visibleTask(name, identity)))))
    }

    func deleteTask(_ input: Operations.DeleteTask.Input) async throws -> Operations.DeleteTask.Output {
        _ = try await act(.delete, input.path.name)
        return .noContent(.init())
    }

    func runTask(_ input: Operations.RunTask.Input) async throws -> Operations.RunTask.Output {
        .ok(.init(body: .json(.init(message: try await act(.run, input.path.name)))))
    }

    func pauseTask(_ input: Operations.PauseTask.Input) async throws -> Operations.PauseTask.Output {
        .ok(.init(body: .json(.init(message: try await act(.pause, input.path.name)))))
    }

    func resumeTask(_ input: Operations.ResumeTask.Input) async throws -> Operations.ResumeTask.Output {
        .ok(.init(body: .json(.init(message: try await act(.resume, input.path.name)))))
    }

    func killTask(_ input: Operations.KillTask.Input) async throws -> Operations.KillTask.Output {
        .ok(.init(body: .json(.init(message: try await act(.kill, input.path.name)))))
    }

    func bulkTasks(_ input: Operations.BulkTasks.Input) async throws -> Operations.BulkTasks.Output {
        let identity = try APICaller.require(.operator)
        guard case .json(let body) = input.body, let verb = TaskActions.Verb(rawValue: body.action.rawValue) else {
            throw APIError(.badRequest, "bad_request", "send JSON with an action")
        }
        try APILimits.check(body.names?.count, 0...1000, "names")
        for name in body.names ?? [] { try APILimits.length(name, 1...191, "names") }
        var names = body.names ?? []
        if body.names == nil {
            var filter = TaskFilter(search: body.search, action: body.taskAction)
            filter.status = try APILimits.choice(body.status, "status").flatMap(TaskStatus.init(rawValue:))
            filter.anyTags = TasksController.tags(body.tag, within: identity.scope)
            do {
                names = try await TaskActions(services: services).names(matching: filter)
            } catch let error as TaskAdmin.AdminError {
                throw APIError(error.reason, error.description, field: error.field)
            }
        }
        let outcome = try await TaskActions(services: services).performAll(
            verb, names: names, by: identity, address: APICaller.current.address)
        return .ok(
            .init(
                body: .json(
                    .init(
                        matched: names.count, changed: outcome.changed,
                        failures: outcome.failures.map { .init(name: $0.name, message: $0.message) }))))
    }

    private func act(_ verb: TaskActions.Verb, _ name: String) async throws -> String {
        let identity = try APICaller.require(.operator)
        switch try await TaskActions(services: services).perform(
            verb, name: name, by: identity, address: APICaller.current.address)
        {
        case .success(let message): return message
        case .failure(let error):
            // Whatever keeps an existing task from it (its state, its schedule) is a conflict.
            throw APIError(error.reason == .notFound ? .notFound : .conflict, error.description)
        }
    }

    private func visibleTask(_ name: String, _ identity: ConsoleIdentity) async throws -> TaskRow {
        guard let row = try await services.task(named: name, visibleTo: identity) else {
            throw APIError.notFound("no task named '\(name)'")
        }
        return row
    }

    /// Runs a `TaskAdmin` or `UserAdmin` call; its refusals become 422, 404 or 409 by their reason.
    static func admin<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as TaskAdmin.AdminError {
            throw APIError(error.reason, error.description, field: error.field)
        } catch let refusal as UserAdmin.Refusal {
            throw APIError(refusal.reason, refusal.description)
        }
    }

    static func newTask(name: String, from body: Schemas.TaskInput, scope: TaskScope) throws -> NewTask {
        try APILimits.length(body.name, 1...191, "name")
        try APILimits.length(body.action, 1...64, "action")
        try APILimits.check(body.maxAttempts, 1...1000, "max_attempts")
        try APILimits.check(body.backoffSeconds, 0...86_400, "backoff_seconds")
        try APILimits.positive(body.timeoutSeconds, maximum: 31_536_000, "timeout_seconds")
        try APILimits.check(body.maxConcurrency, 1...10_000, "max_concurrency")
        try APILimits.length(body.tags, 0...255, "tags")
        try APILimits.length(body.alerts, 0...255, "alerts")
        try APILimits.check(body.alertLateSeconds, 0...31_536_000, "alert_late_seconds")
        var task = NewTask(name: name, action: body.action)
        task.payload = body.payload
        task.schedule = body.schedule
        task.timezone = body.timezone ?? "UTC"
        task.maxAttempts = body.maxAttempts
        task.backoffSeconds = body.backoffSeconds
        task.timeoutSeconds = body.timeoutSeconds
        task.maxConcurrency = body.maxConcurrency
        task.misfirePolicy = try APILimits.choice(body.misfirePolicy, "misfire_policy").flatMap(
            TaskRow.MisfirePolicy.init(rawValue:))
        task.delivery = try APILimits.choice(body.delivery, "delivery").flatMap(TaskRow.Delivery.init(rawValue:))
        task.tags = body.tags
        task.alerts = body.alerts
        task.alertLateSeconds = body.alertLateSeconds
        task.metrics = body.metrics ?? false
        guard scope.allowsWriting(taskTags: task.tags) else {
            throw APIError.invalid("every tag must be one of yours: \(scope.stored ?? "")", field: "tags")
        }
        return task
    }

    static func task(_ row: TaskRow) -> Schemas.Task {
        Schemas.Task(
            name: row.name, action: row.action, payload: row.payload, schedule: row.schedule, timezone: row.timezone,
            status: Schemas.TaskStatus(rawValue: row.status.rawValue) ?? .invalid, error: row.error,
            nextRun: row.nextRun, attempt: row.attempt, maxAttempts: row.maxAttempts,
            backoffSeconds: row.backoffSeconds, timeoutSeconds: row.timeoutSeconds, maxConcurrency: row.maxConcurrency,
            misfirePolicy: Schemas.MisfirePolicy(rawValue: row.misfirePolicy.rawValue) ?? .runOnce,
            delivery: Schemas.Delivery(rawValue: row.delivery.rawValue) ?? .atLeastOnce, tags: row.tags,
            alerts: row.alerts, alertLateSeconds: row.alertLateSeconds, metrics: row.metrics,
            running: row.claimToken != nil, failing: row.failing, lastSuccessAt: row.lastSuccessAt,
            lastDuration: row.lastDuration)
    }

    // MARK: Runs

    func listRuns(_ input: Operations.ListRuns.Input) async throws -> Operations.ListRuns.Output {
        let identity = try APICaller.require(.viewer)
        let query = input.query
        var filter = RunFilter(executor: query.executor, since: query.since, anyTags: identity.scope.tags)
        filter.status = query.status.flatMap { RunStatus(rawValue: $0.rawValue) }
        let cursor = query.cursor.flatMap { $0.isEmpty ? nil : $0 }
        guard cursor.map({ Int64($0) != nil }) ?? true else {
            throw APIError(.badRequest, "bad_request", "the cursor is not one this API gave", field: "cursor")
        }
        try APILimits.check(query.limit, 1...1000, "limit")
        let (limit, before, task) = (query.limit ?? 100, cursor.flatMap { Int64($0) }, query.task)
        let asked = filter
        let runs = try await services.blocking { store -> [RunInfo] in
            var filter = asked
            if let task {
                guard let row = try store.task(named: task) else { return [] }
                filter.taskID = row.id
            }
            return try store.runs(filter, before: before, limit: limit + 1)
        }
        let page = runs.prefix(limit)
        return .ok(
            .init(
                body: .json(
                    .init(
                        items: page.map(Self.run), nextCursor: runs.count > limit ? page.last.map { "\($0.id)" } : nil))
            ))
    }

    func getRun(_ input: Operations.GetRun.Input) async throws -> Operations.GetRun.Output {
        .ok(.init(body: .json(Self.run(try await visibleRun(input.path.id)))))
    }

    func getRunOutput(_ input: Operations.GetRunOutput.Input) async throws -> Operations.GetRunOutput.Output {
        let run = try await visibleRun(input.path.id)
        return .ok(.init(body: .plainText(HTTPBody(run.output ?? ""))))
    }

    private func visibleRun(_ id: Int64) async throws -> RunInfo {
        let identity = try APICaller.require(.viewer)
        guard let found = try await services.run(id: id, visibleTo: identity) else {
            throw APIError.notFound("no run \(id)")
        }
        return found.run
    }

    static func run(_ run: RunInfo) -> Schemas.Run {
        Schemas.Run(
            id: run.id, taskId: run.taskID, task: run.taskName, scheduledFor: run.scheduledFor,
            attempt: run.attempt + 1,
            executor: run.executor, startedAt: run.startedAt, finishedAt: run.finishedAt,
            status: Schemas.RunStatus(rawValue: run.status.rawValue) ?? .lost, exitCode: run.exitCode, error: run.error,
            output: run.output, startedBy: run.startedBy, requestedBy: run.requestedBy)
    }

    // MARK: Executors and schedules

    func listExecutors(_ input: Operations.ListExecutors.Input) async throws -> Operations.ListExecutors.Output {
        _ = try APICaller.require(.viewer)
        let (executors, now) = try await services.blocking { store in (try store.executors(), try store.now()) }
        return .ok(
            .init(
                body: .json(
                    executors.map { e in
                        Schemas.Executor(
                            id: e.id, host: e.host, pid: Int(e.pid), threads: e.threads, busy: e.busy, tags: e.tags,
                            actions: e.actions, state: .init(rawValue: e.state.rawValue) ?? .dead,
                            startedAt: e.startedAt, heartbeat: e.heartbeat, leaseExpiresAt: e.leaseExpiresAt,
                            alive: (e.state == .running || e.state == .stopping) && e.leaseExpiresAt > now)
                    })))
    }

    func previewSchedule(_ input: Operations.PreviewSchedule.Input) async throws -> Operations.PreviewSchedule.Output {
        _ = try APICaller.require(.viewer)
        try APILimits.length(input.query.expr, 0...255, "expr")
        try APILimits.length(input.query.tz, 0...64, "tz")
        try APILimits.check(input.query.count, 1...50, "count")
        let now = try await services.blocking { try $0.now() }
        let found = SchedulePreviewer.preview(
            input.query.expr, zone: input.query.tz ?? "UTC", count: input.query.count ?? 10, now: now)
        return .ok(
            .init(
                body: .json(
                    .init(
                        valid: found.valid, description: found.description, error: found.error,
                        fires: found.fires.map {
                            .init(utc: $0.utc, local: $0.local, daylightSavingChange: $0.daylightSavingChange)
                        }))))
    }

    // MARK: Users and tokens

    func listUsers(_ input: Operations.ListUsers.Input) async throws -> Operations.ListUsers.Output {
        try requireUnlimitedAdmin()
        let users = try await services.blocking { try $0.users() }
        return .ok(.init(body: .json(users.map(Self.user))))
    }

    func createUser(_ input: Operations.CreateUser.Input) async throws -> Operations.CreateUser.Output {
        let identity = try requireUnlimitedAdmin()
        guard case .json(let body) = input.body else { throw APIError(.badRequest, "bad_request", "send JSON") }
        try APILimits.length(body.name, 1...64, "name")
        try APILimits.length(body.password, 12...72, "password")
        try APILimits.length(body.tags, 0...255, "tags")
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        let (actor, address) = (identity.actor, APICaller.current.address)
        let user = try await services.threads.run {
            try Self.admin {
                try users.add(
                    name: body.name, role: Role(rawValue: body.role.rawValue) ?? .viewer,
                    scope: TaskScope(stored: body.tags), password: body.password, by: actor, address: address)
            }
        }
        return .created(.init(body: .json(Self.user(user))))
    }

    func updateUser(_ input: Operations.UpdateUser.Input) async throws -> Operations.UpdateUser.Output {
        let identity = try requireUnlimitedAdmin()
        guard case .json(let body) = input.body else { throw APIError(.badRequest, "bad_request", "send JSON") }
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        try APILimits.length(body.timeZone, 0...64, "time_zone")
        try APILimits.length(body.password, 12...72, "password")
        let role = try APILimits.choice(body.role, "role").flatMap(Role.init(rawValue:))
        let (name, actor, address) = (input.path.user, identity.actor, APICaller.current.address)
        let user = try await services.threads.run {
            try Self.admin {
                try users.update(
                    name: name, role: role, disabled: body.disabled,
                    timeZone: body.timeZone, by: actor, self: identity.userName, address: address)
                if let password = body.password {
                    try users.setPassword(name: name, password: password, by: actor, address: address)
                }
                return try users.named(name)
            }
        }
        return .ok(.init(body: .json(Self.user(user))))
    }

    func listTokens(_ input: Operations.ListTokens.Input) async throws -> Operations.ListTokens.Output {
        try requireUnlimitedAdmin()
        let tokens = try await services.blocking { try $0.tokens(userID: nil) }
        return .ok(.init(body: .json(tokens.map(Self.token))))
    }

    func createToken(_ input: Operations.CreateToken.Input) async throws -> Operations.CreateToken.Output {
        let identity = try requireUnlimitedAdmin()
        guard case .json(let body) = input.body else { throw APIError(.badRequest, "bad_request", "send JSON") }
        try APILimits.length(body.name, 1...100, "name")
        try APILimits.check(body.days, 1...1095, "days")
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        let (actor, address, lifetime) = (
            identity.actor, APICaller.current.address, services.configuration.tokenLifetime
        )
        let made = try await services.threads.run {
            try Self.admin {
                let owner = try users.named(body.owner ?? identity.userName)
                return try users.makeToken(
                    owner: owner, name: body.name, role: Role(rawValue: body.role.rawValue) ?? .viewer,
                    lifetime: body.days.map { .seconds(Int64($0) * 86_400) } ?? lifetime, by: actor, address: address)
            }
        }
        return .created(.init(body: .json(.init(token: Self.token(made.token), secret: made.secret))))
    }

    func revokeToken(_ input: Operations.RevokeToken.Input) async throws -> Operations.RevokeToken.Output {
        let identity = try requireUnlimitedAdmin()
        let users = UserAdmin(store: services.store, hasher: services.hasher)
        let (id, actor, address) = (input.path.id, identity.actor, APICaller.current.address)
        try await services.threads.run {
            try Self.admin { try users.revokeToken(id: id, by: actor, address: address) }
        }
        return .noContent(.init())
    }

    @discardableResult
    private func requireUnlimitedAdmin() throws -> ConsoleIdentity {
        let identity = try APICaller.require(.admin)
        guard identity.scope == .everything else {
            throw APIError(.forbidden, "forbidden", "your role is limited to some tasks: users and tokens are not")
        }
        return identity
    }

    static func user(_ user: ConsoleUser) -> Schemas.User {
        Schemas.User(
            name: user.name, role: .init(rawValue: user.role.rawValue) ?? .viewer, tags: user.scope.stored,
            disabled: user.disabled, secondFactor: user.totpSecret != nil, timeZone: user.timeZone)
    }

    static func token(_ token: APIToken) -> Schemas.Token {
        Schemas.Token(
            id: token.id, name: token.name, owner: token.userName,
            role: .init(rawValue: token.role.rawValue) ?? .viewer,
            hint: token.hint, createdAt: token.createdAt, expiresAt: token.expiresAt, lastUsedAt: token.lastUsedAt,
            revokedAt: token.revokedAt)
    }
}
