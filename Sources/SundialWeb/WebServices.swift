import Foundation
import Logging
import SundialAPI
import SundialCore
import SundialExecutor

/// What every controller uses: the store (through `TaskAdmin` for tasks, so that the console
/// validates exactly as the executor and the command line do), the threads blocking calls run
/// on, the templates, and the settings.
public struct WebServices: Sendable {
    public let store: any SundialStore
    public let admin: TaskAdmin
    public let threads: BlockingThreads
    public let templates: Templates
    public let configuration: WebConfiguration
    public let hasher: PasswordHasher
    public let throttle = LoginThrottleRule()
    public let logger: Logger
    /// The API's OpenAPI document, served as written.
    public let document: Data

    public init(
        admin: TaskAdmin, threads: BlockingThreads, templates: Templates, configuration: WebConfiguration,
        logger: Logger
    ) {
        self.store = admin.store
        self.admin = admin
        self.threads = threads
        self.templates = templates
        self.configuration = configuration
        self.hasher = PasswordHasher(cost: configuration.bcryptCost)
        self.logger = logger
        // Part of the module's resources: a build without it would not have passed its tests.
        self.document = (try? SundialAPIDocument.load()) ?? Data()
    }

    /// Runs blocking store work on the web server's own threads.
    public func blocking<T: Sendable>(_ body: @escaping @Sendable (any SundialStore) throws -> T) async throws -> T {
        let store = store
        return try await threads.run { try body(store) }
    }

    /// The task named `name`, if there is one and `identity` may see it (else nil, as if absent).
    func task(named name: String, visibleTo identity: ConsoleIdentity) async throws -> TaskRow? {
        let scope = identity.scope
        return try await blocking { store in
            try store.task(named: name).flatMap { scope.contains(taskTags: $0.tags) ? $0 : nil }
        }
    }

    /// The run `id` with its output, if there is one and `identity` may see its task (a run of a
    /// deleted task only by those who see every task), with the store's clock.
    func run(id: Int64, visibleTo identity: ConsoleIdentity) async throws -> (run: RunInfo, now: Date)? {
        let scope = identity.scope
        return try await blocking { store in
            guard let run = try store.run(id: id) else { return nil }
            if scope != .everything {
                guard let name = run.taskName, let task = try store.task(named: name),
                    scope.contains(taskTags: task.tags)
                else { return nil }
            }
            return (run, try store.now())
        }
    }

    /// Writes an audit line; a failure to write it is logged, never hidden.
    func audit(_ draft: AuditDraft) async {
        do {
            try await blocking { try $0.audit(draft) }
        } catch {
            logger.error(
                "could not write to the audit log",
                metadata: ["action": "\(draft.action.rawValue)", "error": "\(error)"])
        }
    }
}
