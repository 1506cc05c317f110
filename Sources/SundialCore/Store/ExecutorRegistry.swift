import Foundation

/// Executors, their leases, and the recovery of work whose executor's lease ran out.
///
/// A lease is a time on the store's clock (`lease_expires_at`), set by the store at each
/// renewal as now plus the executor's own lease length. Any executor may recover the work of
/// one whose lease has passed, whatever its registry row says (running, stopping, stopped), and
/// whatever lease length the recovering executor itself uses.
public protocol ExecutorRegistry: Sendable {
    /// Registers a new executor (a new id per process) with a lease of `lease`.
    func register(_ executor: ExecutorRegistration, lease: Duration) throws(StoreError) -> LeaseRenewal

    /// Extends the lease to now plus `lease` and records how many threads are busy, unless the
    /// lease had already run out and another executor recovered its work: then `.lost`.
    /// Idempotent. Touches only the executor's own registry row.
    func renewLease(executor: String, lease: Duration, busy: Int) throws(StoreError) -> LeaseRenewal

    /// Records a state change (`stopping` when draining, `stopped` when done). Stopping keeps the
    /// lease; `stopped` ends it (anything still claimed is recovered at once by others).
    func setState(executor: String, _ state: ExecutorState) throws(StoreError)

    /// Executors whose lease ended and who still hold work: claimed rows or running runs.
    func expiredHolders() throws(StoreError) -> [String]

    /// Recovers the work `executor` holds, atomically: its running runs become `lost` with
    /// `reason`; each row it holds, started or only claimed, is changed by `plan` (the planner's
    /// decision for an interrupted fire; nil frees the row as it was), and a claimed fire the plan
    /// counts as an attempt though its start is not on record goes on record as `lost` too; the
    /// executor is marked `dead` (unless it recovers itself on a clean stop, `self`).
    /// Does nothing unless its lease has ended or `self` is true. Idempotent.
    ///
    /// `alerts` gives the alerts to raise in the same transaction: for the executor, when it is
    /// marked dead, and for each fire recovery gives up (`dead`, `failed`); the task's `failing`
    /// flag is set with them.
    func recover(
        executor: String, reason: String, self isSelf: Bool,
        plan: @Sendable (InterruptedFire) -> FirePlanner.Plan?,
        alerts: @Sendable (RecoveryEvent) -> [AlertDraft]
    ) throws(StoreError) -> RecoveryReport

    /// Every executor in the registry, newest first.
    func executors() throws(StoreError) -> [ExecutorInfo]
}

extension ExecutorRegistry {
    /// Recovery that raises no alerts.
    public func recover(
        executor: String, reason: String, self isSelf: Bool, plan: @Sendable (InterruptedFire) -> FirePlanner.Plan?
    ) throws(StoreError) -> RecoveryReport {
        try recover(executor: executor, reason: reason, self: isSelf, plan: plan, alerts: { _ in [] })
    }
}

/// What recovery found, for alerts.
public enum RecoveryEvent: Sendable {
    /// The executor's lease ended and it was marked dead.
    case executorDead(String)
    /// A fire recovery ended as `lost` whose plan gives it up: what it means (`dead`, `failed`).
    case fireGivenUp(InterruptedFire, RunKey, [AlertEvent])

    /// The events of a lost attempt of `fire` that `plan` follows.
    public static func events(of fire: InterruptedFire, plan: FirePlanner.Plan) -> [AlertEvent] {
        let lost = fire.lostRun(executor: "", token: ClaimToken(0), reason: "")
        return AttemptResult.events(row: fire.row, run: lost, plan: plan, killedOnRequest: false)
    }
}

/// A fire cut short with its executor, as recovery finds it: started (its run on record as
/// `running`) or only claimed.
public struct InterruptedFire: Sendable {
    /// The row now (still claimed by the executor recovered from, for a fire it held).
    public var row: TaskRow
    public var scheduledFor: Date
    public var attempt: Int
    /// The store's clock.
    public var now: Date
    /// Its start is in the run history (otherwise the row was only found claimed).
    public var startOnRecord: Bool
    /// The executor was lost (its lease ended and another executor recovers its work), rather
    /// than stopping cleanly and freeing what it still held itself.
    public var executorLost: Bool
    /// When the lost executor's lease ended, by the store's clock (it starts nothing after).
    public var leaseEnd: Date?
    /// Earlier attempts of the fire that recovery ended as `lost`, on record.
    public var lostBefore: Int

    public init(
        row: TaskRow, scheduledFor: Date, attempt: Int, now: Date, startOnRecord: Bool = true,
        executorLost: Bool = true, leaseEnd: Date? = nil, lostBefore: Int = 0
    ) {
        (self.row, self.scheduledFor, self.attempt, self.now) = (row, scheduledFor, attempt, now)
        (self.startOnRecord, self.executorLost, self.leaseEnd) = (startOnRecord, executorLost, leaseEnd)
        self.lostBefore = lostBefore
    }

    /// The attempt's run key.
    public var key: RunKey { RunKey(task: row.id, scheduled: scheduledFor, attempt: attempt) }

    /// The run record of an attempt that recovery ends as `lost` (for the history and alerts).
    public func lostRun(executor: String, token: ClaimToken, reason: String, concurrent: Bool = false) -> RunRecord {
        RunRecord(
            taskID: row.id, token: token, scheduledFor: scheduledFor, attempt: attempt, executor: executor,
            startedAt: now, finishedAt: now, status: .lost, error: reason, concurrent: concurrent)
    }
}

/// What a recovery did.
public struct RecoveryReport: Sendable, Equatable {
    /// False when there was nothing to recover (the lease is still valid, or another executor
    /// recovered it first).
    public var recovered: Bool
    /// Runs marked `lost`.
    public var lostRuns: Int
    /// Rows freed, started or not.
    public var freedRows: Int

    public init(recovered: Bool, lostRuns: Int, freedRows: Int) {
        (self.recovered, self.lostRuns, self.freedRows) = (recovered, lostRuns, freedRows)
    }
}
