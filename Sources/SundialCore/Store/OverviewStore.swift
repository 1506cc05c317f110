import Foundation

/// What the dashboard shows, each read by an index: counts by status, the failing tasks, the
/// next fires, runs by outcome, and how late runs start.
public protocol OverviewStore: Sendable {
    /// Tasks per status.
    func taskCounts() throws(StoreError) -> [TaskStatus: Int]

    /// Tasks whose last fire failed (`failing`), by name, at most `limit`, within `anyTags` when
    /// given.
    func failingTasks(anyTags: Set<String>?, limit: Int) throws(StoreError) -> [TaskRow]

    /// Active tasks by their next run, soonest first, at most `limit`, within `anyTags` when given.
    func nextFires(anyTags: Set<String>?, limit: Int) throws(StoreError) -> [TaskRow]

    /// Runs that finished in `[from, to)`, counted by status and by the `bucket` they finished in
    /// (buckets start at multiples of `bucket` since 1970).
    func runOutcomes(from: Date, to: Date, bucket: Duration) throws(StoreError) -> [OutcomeCount]

    /// How late first attempts started (seconds after their scheduled time), for the latest
    /// `sample` runs started at or after `since`.
    func startLags(since: Date, sample: Int) throws(StoreError) -> [Double]
}

/// Runs of one status that finished in one bucket.
public struct OutcomeCount: Sendable, Equatable {
    public var bucket: Date
    public var status: RunStatus
    public var count: Int

    public init(bucket: Date, status: RunStatus, count: Int) {
        (self.bucket, self.status, self.count) = (bucket, status, count)
    }
}
