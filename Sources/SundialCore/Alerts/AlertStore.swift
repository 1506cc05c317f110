import Foundation

/// Alerts: raising them (deduplicated), delivering them at least once with the same claim and
/// fence as tasks, and what the `missed` check and per-task metrics read.
///
/// Alerts of finished runs are raised by `ClaimStore.record`, in the same transaction as the run
/// they are about (`FinishedRun.alerts`): a run on record as failed has its alert on record too.
public protocol AlertStore: Sendable {
    /// Writes each draft unless an alert of the same event, subject and channel was raised within
    /// its `dedupeWindow`; the check and the write are one step whoever else raises at the same
    /// time. Returns how many were written. Repeating it after an unknown outcome is safe: the
    /// window drops the repeat.
    @discardableResult
    func raise(_ drafts: [AlertDraft]) throws(StoreError) -> Int

    /// Marks up to `limit` pending alerts for `channel` whose time has come and which nobody holds
    /// (or whose holder's claim ran out) with `token` for `lease`, counts the attempt, and returns
    /// them, oldest first. Executors claim only the channels they have. After an unknown outcome
    /// the claim simply runs out.
    func claimAlerts(
        channel: String, by executor: String, token: ClaimToken, lease: Duration, limit: Int
    ) throws(StoreError) -> [Alert]

    /// Ends a claimed alert: `delivered`, or failed with `error` and tried again after `retryIn`
    /// (nil: given up, status `failed`). Fenced by the token: a write after the claim ran out and
    /// another executor took the alert is a no-op (returns false). Idempotent.
    @discardableResult
    func settleAlert(
        id: Int64, token: ClaimToken, delivered: Bool, error: String?, retryIn: Duration?
    ) throws(StoreError) -> Bool

    /// The newest alerts first, at most `limit`.
    func alerts(limit: Int) throws(StoreError) -> [Alert]

    /// Active, free rows whose `next_run` is more than `lateBy` in the past, most overdue first
    /// (after `after`, when given), at most `limit`, read by the claim index. The rows carry what
    /// alerts need (not the payload).
    func overdueFires(lateBy: Duration, after: OverdueCursor?, limit: Int) throws(StoreError) -> [OverdueFire]

    /// Tasks that asked for series of their own in the metrics (`cron.metrics = 1`).
    func taskSeries(limit: Int) throws(StoreError) -> [TaskSeries]

    /// Deletes delivered and given-up alerts created before `before`, at most `limit`.
    func pruneAlerts(before: Date, limit: Int) throws(StoreError) -> Int
}

/// A fire that should have started and has not.
public struct OverdueFire: Sendable, Equatable {
    public var row: TaskRow
    /// How far past its time it is, by the store's clock.
    public var late: Duration

    public init(row: TaskRow, late: Duration) {
        (self.row, self.late) = (row, late)
    }
}

/// A place in the order of overdue fires (`next_run`, then id).
public struct OverdueCursor: Sendable, Equatable {
    public var nextRun: Date
    public var id: Int64

    public init(_ row: TaskRow) {
        (nextRun, id) = (row.nextRun ?? Date(timeIntervalSince1970: 0), row.id)
    }
}

/// What `sundial_task_*{task}` shows of one task.
public struct TaskSeries: Sendable, Equatable {
    public var name: String
    public var lastSuccess: Date?
    public var nextFire: Date?
    public var running: Int

    public init(name: String, lastSuccess: Date?, nextFire: Date?, running: Int) {
        (self.name, self.lastSuccess, self.nextFire, self.running) = (name, lastSuccess, nextFire, running)
    }
}
