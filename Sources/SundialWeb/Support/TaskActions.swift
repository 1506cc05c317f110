import Foundation
import SundialCore
import SundialExecutor

/// What operators do to one task, from the console or the API alike: checked against the
/// caller's scope, done through `TaskAdmin`, written to the audit log.
struct TaskActions: Sendable {
    enum Verb: String, Sendable, CaseIterable {
        case pause, resume, run, kill, delete

        var audit: AuditAction {
            switch self {
            case .pause: .taskPause
            case .resume: .taskResume
            case .run: .taskRunNow
            case .kill: .taskKill
            case .delete: .taskDelete
            }
        }
    }

    let services: WebServices
    /// Most tasks one bulk action covers: each is checked, changed and audited on its own within
    /// the request, which must end before a proxy gives up on it.
    static let bulkLimit = 5_000

    /// What a bulk action did.
    struct BulkOutcome: Sendable {
        var changed = 0
        var failures: [(name: String, message: String)] = []
    }

    /// The names of the tasks matching `filter` (which carries the caller's scope), by name; a
    /// refusal when they are more than `bulkLimit`.
    func names(matching filter: TaskFilter) async throws -> [String] {
        let names = try await names(matching: filter, atMost: Self.bulkLimit + 1)
        guard names.count <= Self.bulkLimit else {
            throw TaskAdmin.AdminError(
                "the filter matches more than \(Self.bulkLimit) tasks, the most one bulk action covers: narrow it",
                field: "filter")
        }
        return names
    }

    private func names(matching filter: TaskFilter, atMost limit: Int) async throws -> [String] {
        var asked = filter
        asked.order = .name
        let byName = asked
        return try await services.blocking { store in
            var all: [String] = []
            repeat {
                let page = try store.tasks(
                    byName, after: all.last.map { TaskCursor(token: $0, order: .name)! },
                    limit: min(1000, limit - all.count))
                all += page.map(\.name)
                if page.count < 1000 { break }
            } while all.count < limit
            return all
        }
    }

    /// Does `verb` to each named task in turn: each is checked, done and audited on its own.
    func performAll(_ verb: Verb, names: [String], by identity: ConsoleIdentity, address: String?) async throws
        -> BulkOutcome
    {
        var outcome = BulkOutcome()
        for name in names {
            switch try await perform(verb, name: name, by: identity, address: address) {
            case .success: outcome.changed += 1
            case .failure(let error): outcome.failures.append((name, error.description))
            }
        }
        return outcome
    }

    /// Does `verb` to the task; a sentence saying what happened, or the refusal.
    func perform(_ verb: Verb, name: String, by identity: ConsoleIdentity, address: String?) async throws
        -> Result<String, TaskAdmin.AdminError>
    {
        let admin = services.admin
        let scope = identity.scope
        let outcome: Result<String, TaskAdmin.AdminError> = try await services.threads.run {
            do {
                guard let task = try admin.store.task(named: name), scope.contains(taskTags: task.tags) else {
                    throw TaskAdmin.AdminError("no task named '\(name)'", field: "name", reason: .notFound)
                }
                // Deleting takes what editing does: every tag of the task within the user's.
                if verb == .delete, !scope.allowsWriting(taskTags: task.tags) {
                    throw TaskAdmin.AdminError(
                        "'\(name)' has tags outside yours: only a user whose tags cover all of them deletes it",
                        field: "name", reason: .conflict)
                }
                switch verb {
                case .pause: try admin.pause(name)
                case .resume: try admin.resume(name)
                case .run: try admin.runNow(name, requester: identity.actor)
                case .kill:
                    let asked = try admin.kill(name)
                    return .success(
                        asked == 0 ? "'\(name)' is not running" : "asked \(asked) run(s) of '\(name)' to stop")
                case .delete: try admin.delete(name)
                }
                return .success("\(verb.rawValue) '\(name)': done")
            } catch let error as TaskAdmin.AdminError {
                return .failure(error)
            }
        }
        if case .success = outcome {
            await services.audit(AuditDraft(actor: identity.actor, action: verb.audit, subject: name, address: address))
        }
        return outcome
    }
}
