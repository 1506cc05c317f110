import Foundation

/// Every task's runs, for people: the console's run pages, the API and `sundial run`.
public protocol RunHistory: Sendable {
    /// Runs matching `filter`, newest first, older than the run id `before` (keyset paging), with
    /// their task's name and without their output (a listing of thousands of outputs would be
    /// gigabytes).
    func runs(_ filter: RunFilter, before: Int64?, limit: Int) throws(StoreError) -> [RunInfo]

    /// One run with its output and its task's name, or nil.
    func run(id: Int64) throws(StoreError) -> RunInfo?
}

/// Which runs a listing shows.
public struct RunFilter: Sendable, Equatable {
    public var status: RunStatus?
    public var taskID: Int64?
    public var executor: String?
    /// Runs started at or after this time.
    public var since: Date?
    /// Runs of tasks with at least one of these tags; nil: any run. (A role limited to tags sets
    /// it: runs of deleted tasks then do not show.)
    public var anyTags: Set<String>?

    public init(
        status: RunStatus? = nil, taskID: Int64? = nil, executor: String? = nil, since: Date? = nil,
        anyTags: Set<String>? = nil
    ) {
        (self.status, self.taskID, self.executor, self.since, self.anyTags) = (
            status, taskID, executor, since, anyTags
        )
    }
}
