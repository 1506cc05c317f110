/// Keeping history bounded: old runs and long-stopped executors are deleted in small batches.
public protocol RunRetention: Sendable {
    /// One step of pruning: deletes at most `limit` final runs that are older than
    /// `policy.maxAge` or beyond the newest `policy.keepPerTask` of their task. Never deletes a
    /// `running` run, nor one whose retry is pending while its task exists, nor any run of a fire
    /// still in play (an attempt of it running or waiting for a retry, or its active or paused
    /// task on it): its lost attempts count toward `max_attempts`, and its run keys keep an
    /// `at_most_once` fire from starting twice. Returns how many.
    ///
    /// Bounded work per call, whatever the table holds: the age rule looks at the next `limit`
    /// runs in id order (resuming where the last call stopped, back to the oldest once it meets
    /// recent runs), the count rule at a few tasks. Fewer deleted than `limit` does not mean
    /// nothing is left; nothing deleted by a few calls in a row does.
    func pruneRuns(_ policy: RetentionPolicy, limit: Int) throws(StoreError) -> Int

    /// Deletes registry rows of executors stopped or dead for longer than `policy.executorAge`
    /// that hold nothing. Returns how many.
    func pruneExecutors(_ policy: RetentionPolicy, limit: Int) throws(StoreError) -> Int
}

/// How much history to keep.
public struct RetentionPolicy: Sendable, Equatable {
    /// Runs older than this are deleted (default 30 days); nil keeps them regardless of age.
    public var maxAge: Duration? = .seconds(30 * 86_400)
    /// Runs per task kept beyond the age limit's survivors (default 1,000); nil: no count limit.
    public var keepPerTask: Int? = 1_000
    /// Registry rows of executors stopped or dead this long ago are deleted (default 1 day).
    public var executorAge: Duration = .seconds(86_400)

    public init() {}
}

/// Everything a store provides: what executors, the command line and the console use.
public typealias SundialStore = ClaimStore & ExecutorRegistry & TaskCatalog & RunHistory & RunRetention & AlertStore
    & AccessStore & OverviewStore
