import Foundation

/// Claiming due rows and everything that follows a claim, for executors.
///
/// **Time** is the store's clock (MySQL: `NOW(6)`) in every call; an executor's own clock is
/// never written.
///
/// **Fencing.** Every call that takes a `Claim` or a token writes only rows that still carry that
/// token, so a late, repeated or misdirected write is a no-op: it can never touch a row that was
/// freed, reclaimed by another executor, or deleted.
///
/// **Unknown outcomes.** A call that throws `StoreError.outcomeUnknown` may or may not have been
/// applied. Each call says what makes it safe to repeat; the executor repeats it (or the
/// recovery of its lease does the equivalent) until it gets an answer.
public protocol ClaimStore: Sendable {
    /// The store's clock now.
    func now() throws(StoreError) -> Date

    /// Marks up to `request.limit` due rows with `request.token` and returns them, in `next_run`
    /// order, then by id. Rows with neither schedule nor `next_run` (they run once, now) are
    /// chosen first, when `includeUnscheduled`; the claim sets their `next_run` and `fire_at` to
    /// its own clock reading, so the fire keeps its time (and its run key) whoever claims it next.
    ///
    /// Due: active, free, `next_run` before now plus the look-ahead, fewer runs in flight than
    /// `max_concurrency`, an action the executor runs, and no tags or one of the executor's. Rows
    /// locked by another writer are skipped, not waited for. Atomic: either every returned row
    /// carries the token or the call throws. After `outcomeUnknown`, `release(token:)` frees
    /// whatever the claim may have taken.
    func claim(_ request: ClaimRequest) throws(StoreError) -> ClaimedBatch

    /// Frees the rows carrying `token` (all of them, or those of `taskIDs`) as they were: same
    /// fire, same attempt. Returns how many. Idempotent: safe to repeat after any failure.
    @discardableResult
    func release(token: ClaimToken, taskIDs: [Int64]?) throws(StoreError) -> Int

    /// Of `taskIDs`, claimed with `token`, the rows that still carry it and are active: a row
    /// paused, deleted or made invalid since the claim is not among them, nor one recovered by
    /// others. A read: safe to repeat.
    func stillClaimed(token: ClaimToken, taskIDs: [Int64]) throws(StoreError) -> Set<Int64>

    /// Marks a claimed row `invalid` with a readable error and frees it. Idempotent.
    func markInvalid(_ claim: Claim, error: String) throws(StoreError)

    /// The last resort for an ended attempt whose result the store takes in no form: its run, if
    /// not ended already, ends with its own status and `reason` for error, without output (a
    /// concurrent run is counted down), with the alerts the result carries; and its task is marked
    /// `invalid` with `reason` (its row freed if this attempt's claim holds it), so that a person
    /// looks at it. Idempotent.
    func abandonResult(_ finished: FinishedRun, reason: String) throws(StoreError)

    /// Starts a concurrent run (`max_concurrency` above 1), atomically: records `run` as running
    /// and counts it in the row's `running`, only while the row is active and has room
    /// (`running < max_concurrency`; `noRoom` otherwise: nothing written, try again later). With
    /// `moveOn` (a fire just claimed), it also moves the row on to its plan and frees it for the
    /// next fire, fenced by the claim, and leaves the places of retries already due to them
    /// (`noRoom` while they would not fit); an edit made since the claim wins over the plan as at a
    /// finish (`FinishRule`). Without, it is a retry of a fire whose row has moved on; it has no
    /// room either while a claim holds a task that runs one at a time (its fire runs under the
    /// claim). Repeating it after `outcomeUnknown` answers `alreadyStarted` when the first call
    /// was applied.
    ///
    /// A retry names the run it retries (`retrying`): it is taken (its `retryAt` cleared) in the
    /// same transaction, so one executor alone starts it; `claimLost` when another took it first.
    func startConcurrentRun(
        _ run: RunRecord, moveOn: RowFinish?, retrying: RunKey?
    ) throws(StoreError) -> ConcurrentStart

    /// Concurrent runs whose retry is due within `lookahead` for tasks that are active, have room
    /// (`running < max_concurrency`, and no claim on a task that runs one at a time) and that
    /// this executor can run (its actions, its tags), oldest first, with their task rows.
    func dueRetries(actions: [String], tags: [String], lookahead: Duration, limit: Int) throws(StoreError)
        -> [DueRetry]

    /// Writes one group commit atomically: started attempts as `running`, finished attempts with
    /// their final status, and each finished attempt's row change (`FinishRule`), fenced by its
    /// claim. A concurrent run's end lowers the row's `running` count once, when its run row
    /// leaves `running`.
    ///
    /// Idempotent: a run already final is never changed again (a late result never overwrites
    /// a run that recovery ended as `lost`), and a row no longer carrying the token is not
    /// written. Writes that come too late are dropped: of a row a claim took, a claimed run's
    /// start whose claim the row no longer holds, and a result with no run of its on record whose
    /// claim is gone or that is a concurrent run's (on record before it starts): recovery took
    /// the claim, and retention may have deleted the run it ended. Bookkeeping (`running`, the
    /// failing flag, `last_success_at`) is not a change to the row (`TaskRow.changedSinceClaim`).
    /// Values a column cannot hold are shortened (output, errors) or clamped: one bad
    /// value never fails a batch. Throws `rejected` only when a single record can't be written
    /// at all; the caller then records that run as failed with the reason.
    func record(_ batch: RunBatch) throws(StoreError)

    /// The claim token each of these attempts is on record under (absent: not on record), read
    /// where writes go. A run row's token never changes, and `record` never overwrites a start
    /// under another token: so a start that must be on record before its handler runs
    /// (`at_most_once`) is confirmed by finding its own token here after `record` returned.
    func runHolders(_ keys: [RunKey]) throws(StoreError) -> [RunKey: ClaimToken]

    /// Runs of this executor that someone asked to kill.
    func killRequests(executor: String) throws(StoreError) -> [RunKey]
}

/// A concurrent run whose fire is to run again.
public struct DueRetry: Sendable, Equatable {
    /// The task as it is now.
    public var row: TaskRow
    /// The attempt that failed or was lost.
    public var run: RunKey
    public var retryAt: Date

    /// `requestedBy` is the retried run's: who asked for its fire (a later run now may have
    /// asked for another fire of the row since). The row carries it for the retry's run.
    public init(row: TaskRow, run: RunKey, retryAt: Date, requestedBy: String? = nil) {
        var row = row
        (row.requestedBy, row.requestedFire) = (requestedBy, requestedBy.map { _ in run.scheduled })
        (self.row, self.run, self.retryAt) = (row, run, retryAt)
    }
}

/// The answer to `ClaimStore.startConcurrentRun`.
public enum ConcurrentStart: Sendable, Equatable {
    /// The run is on record and counted; run it.
    case started
    /// The claim was gone (or the task deleted or no longer active) before anything was written:
    /// do not run it.
    case claimLost
    /// The task is at its concurrency limit (a retry took the last place since the claim):
    /// nothing was written; try again later (a claimed row stays claimed meanwhile).
    case noRoom
    /// The run was already on record (a repeat after an unknown outcome): run it.
    case alreadyStarted
}
