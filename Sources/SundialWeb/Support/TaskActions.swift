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
                switch verb {
                case .pause: try admin.pause(name)
                case .resume: try admin.resume(name)
                case .run: try admin.runNow(name)
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
