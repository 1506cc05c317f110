/// What a console user or an API token may do. Each role may do everything the one below it may.
public enum Role: String, Sendable, Codable, CaseIterable, Comparable {
    /// Reads everything except users and tokens.
    case viewer
    /// Also runs, pauses, resumes, kills, creates, edits and deletes tasks.
    case `operator`
    /// Everything: users, tokens, the audit log.
    case admin

    private var rank: Int {
        switch self {
        case .viewer: 0
        case .operator: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// Which tasks a user or token may see and act on: all, or those with one of some tags.
public struct TaskScope: Sendable, Equatable, Codable {
    /// nil: every task. Otherwise a task is in scope when one of its tags is listed.
    public var tags: Set<String>?

    public init(tags: Set<String>?) {
        self.tags = tags.flatMap { $0.isEmpty ? nil : $0 }
    }

    public static let everything = TaskScope(tags: nil)

    /// From a stored comma-separated list (NULL or empty: every task).
    public init(stored: String?) {
        let items = CommaList.items(stored)
        self.init(tags: items.isEmpty ? nil : Set(items))
    }

    /// The comma-separated form stored in the database, nil for every task.
    public var stored: String? { tags.map { $0.sorted().joined(separator: ",") } }

    /// Whether a task with these tags (the `cron.tags` column) is in scope.
    public func contains(taskTags: String?) -> Bool {
        guard let tags else { return true }
        return CommaList.items(taskTags).contains(where: tags.contains)
    }

    /// Whether a task with these tags may be made or changed within this scope: every one of its
    /// tags must be in scope (a task with none would run on any executor, outside the scope).
    public func allowsWriting(taskTags: String?) -> Bool {
        guard let tags else { return true }
        let wanted = CommaList.items(taskTags)
        return !wanted.isEmpty && wanted.allSatisfy(tags.contains)
    }

    /// Whether everything `other` allows is allowed here.
    public func covers(_ other: TaskScope) -> Bool {
        guard let tags else { return true }
        guard let theirs = other.tags else { return false }
        return theirs.isSubset(of: tags)
    }
}
