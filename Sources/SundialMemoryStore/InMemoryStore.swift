import Foundation
import SundialCore
import Synchronization

/// A store in memory with the MySQL mapper's semantics: tokens, fencing, leases on its own clock,
/// the same claim order. For the simulator and unit tests; the conformance suites hold both to
/// the same rules.
///
/// Faults are injected per call through `injectFaults`: a call may fail before it does anything,
/// be applied and then lose its answer, as a dying connection would, or be cut off inside its
/// transaction, whose row locks then stay until the server would roll it back
/// (`idleTransactionTimeout`; see `InMemoryStore+Transactions`).
///
/// Where it still differs from MySQL, on purpose or as a model's limit:
/// - Calls are serial (one lock), so transactions never interleave: deadlocks are injected
///   faults. A write to a row a cut-off transaction holds fails at once, as a lock wait that
///   timed out; MySQL would wait, and mostly succeed once the server rolled the holder back.
/// - A row's version is a counter that every change moves; MySQL's is `updated_at`, to the
///   microsecond: an edit within the same microsecond as a claim would go unseen there.
/// - Times are kept as given; MySQL keeps microseconds (the executor only compares times it
///   read back from the store).
/// - A claim takes rows without `next_run` in id order; MySQL promises no order among them.
/// - Task names compare case- and accent-blind through Foundation, which only approximates the
///   collation (`ß` and `ss`, ignorable characters), and sort by Swift's order.
/// - A cut-off transaction locks the rows its statements changed, not the rows it only read
///   `FOR UPDATE`.
/// Text compares as MySQL's columns do (task names case- and accent-blind, actions and tags
/// byte for byte), the failing flag is written after the finished row, and counts are of rows
/// changed, as MySQL's affected rows: `TextComparisonConformanceTests` and the others pin it.
public final class InMemoryStore: Sendable {
    public let clock: StoreClock
    /// How long the server keeps a transaction whose client went silent in its middle before it
    /// rolls it back (the MySQL store's `idle_transaction_timeout`); nil: never.
    public let idleTransactionTimeout: TimeInterval?
    let state = Mutex(State())
    private let injector = Mutex<(@Sendable (StoreOperation) -> StoreFault?)?>(nil)

    public init(clock: StoreClock = .system, idleTransactionTimeout: TimeInterval? = 3) {
        self.clock = clock
        self.idleTransactionTimeout = idleTransactionTimeout
    }

    /// Decides, call by call, whether a fault is injected.
    public func injectFaults(_ decide: (@Sendable (StoreOperation) -> StoreFault?)?) {
        injector.withLock { $0 = decide }
    }

    struct StoredRun: Equatable {
        var id: Int64
        var record: RunRecord
        var killRequested: Bool
    }

    struct StoredExecutor: Equatable {
        var registration: ExecutorRegistration
        var busy: Int
        var state: ExecutorState
        var startedAt: Date
        var heartbeat: Date
        var leaseExpiresAt: Date
    }

    struct State {
        var tasks: [Int64: TaskRow] = [:]
        var runs: [RunKey: StoredRun] = [:]
        var executors: [String: StoredExecutor] = [:]
        var nextTaskID: Int64 = 1
        var nextRunID: Int64 = 1
        var nextVersion: Int64 = 1
        var pruneCursor: Int64 = 0
        var ageCursor: Int64 = 0
        var alerts: [Int64: Alert] = [:]
        var nextAlertID: Int64 = 1
        /// When each event, subject and channel last raised an alert.
        var raised: [String: Date] = [:]
        /// Holders' claims on alerts: until when.
        var alertClaims: [Int64: Date] = [:]
        var alertDue: [Int64: Date] = [:]
        /// Console users, tokens, sessions and the audit log.
        var access = AccessState()
        /// Transactions left open by clients cut off in their middle, with their row locks.
        var openTransactions: [OpenTransaction] = []

        /// Every change to a row gets a new version, as `updated_at` does in MySQL.
        mutating func update(_ id: Int64, _ change: (inout TaskRow) -> Void) {
            guard var row = tasks[id] else { return }
            let before = row
            change(&row)
            if row != before {
                row.version = RowVersion(nextVersion)
                nextVersion += 1
            }
            tasks[id] = row
        }

        /// Bookkeeping of runs (`running`, `failing`, `last_success_at`): not an edit, so the
        /// version stays (MySQL's bookkeeping statements keep `updated_at`). A claim's
        /// `changedSinceClaim` and the finish's fast path see only real changes.
        mutating func bookkeep(_ id: Int64, _ change: (inout TaskRow) -> Void) {
            guard var row = tasks[id] else { return }
            change(&row)
            tasks[id] = row
        }

        /// Attempts of the fire before `attempt` that recovery ended as `lost`.
        func lostAttempts(of task: Int64, at fire: Date, before attempt: Int) -> Int {
            runs.values.filter {
                $0.record.taskID == task && $0.record.scheduledFor == fire && $0.record.attempt < attempt
                    && $0.record.status == .lost
            }.count
        }

        mutating func free(_ id: Int64) {
            update(id) { $0.free() }
        }

        /// Whether others must still treat the executor's lease as held: until a quarter of its
        /// length after it ends (MySQL's `leaseHeld`: room for a step of the store's clock).
        func holdsLiveLease(_ executor: String?, now: Date) -> Bool {
            guard let executor, let entry = executors[executor] else { return false }
            let grace = max(0, entry.leaseExpiresAt.timeIntervalSince(entry.heartbeat)) / 4
            return (entry.state == .running || entry.state == .stopping)
                && entry.leaseExpiresAt.addingTimeInterval(grace) >= now
        }
    }

    /// Runs `body` under the lock, with injected faults applied around it, as one transaction:
    /// one that writes a row an open transaction holds fails as a lock wait would, undone.
    func call<T>(_ operation: StoreOperation, _ body: (inout State, Date) throws(StoreError) -> T) throws(StoreError)
        -> T
    {
        let fault = injector.withLock { $0?(operation) }
        switch fault {
        case .unavailable?: throw StoreError(.unavailable, "injected: \(operation) could not reach the store")
        case .conflict?: throw StoreError(.conflict, "injected: \(operation) hit a deadlock")
        case .lostRequest?: throw StoreError(.outcomeUnknown, "injected: \(operation) lost its connection")
        case .cutOffInTransaction?:
            let now = clock.now
            state.withLock { state in
                state.endIdleTransactions(now)
                var staged = state
                do { _ = try body(&staged, now) } catch { return }
                let locks = staged.changedItems(since: state)
                guard !locks.isEmpty, locks.isDisjoint(with: state.lockedItems) else { return }
                state.openTransactions.append(
                    OpenTransaction(
                        operation: operation, locks: locks,
                        endsAt: idleTransactionTimeout.map { now.addingTimeInterval($0) }))
            }
            throw StoreError(.outcomeUnknown, "injected: \(operation) was cut off inside its transaction")
        case .lostAnswer?, nil: break
        }
        let now = clock.now
        let result = try state.withLock { (state: inout State) throws(StoreError) -> T in
            state.endIdleTransactions(now)
            guard !state.openTransactions.isEmpty else { return try body(&state, now) }
            let before = state
            let result: T
            do throws(StoreError) {
                result = try body(&state, now)
            } catch {
                // A failed transaction leaves nothing behind.
                state = before
                throw error
            }
            if !state.changedItems(since: before).isDisjoint(with: state.lockedItems) {
                state = before
                throw StoreError(
                    .conflict, "Lock wait timeout exceeded: \(operation) writes rows an open transaction holds")
            }
            return result
        }
        if fault == .lostAnswer { throw StoreError(.outcomeUnknown, "injected: \(operation) lost its answer") }
        return result
    }

    /// Whether a transaction left open holds rows (for the simulator's trace).
    public var openTransactionCount: Int { state.withLock { $0.openTransactions.count } }

    // MARK: Inspection, for tests and the simulator

    /// Every task row.
    public var allTasks: [TaskRow] { state.withLock { $0.tasks.values.sorted { $0.id < $1.id } } }

    /// Every run row.
    public var allRuns: [RunRecord] {
        state.withLock { $0.runs.values.sorted { $0.id < $1.id }.map(\.record) }
    }

    /// Changes a row from outside, as a user's SQL would (a new version). False when an open
    /// transaction holds the row (the user's statement would wait for it, and time out).
    @discardableResult
    public func edit(taskID: Int64, _ change: @Sendable (inout TaskRow) -> Void) -> Bool {
        state.withLock { state in
            state.endIdleTransactions(clock.now)
            guard !state.isLocked(task: taskID) else { return false }
            state.update(taskID, change)
            return true
        }
    }

    /// Deletes a row from outside. False when an open transaction holds the row.
    @discardableResult
    public func remove(taskID: Int64) -> Bool {
        state.withLock { state in
            state.endIdleTransactions(clock.now)
            guard !state.isLocked(task: taskID) else { return false }
            state.tasks[taskID] = nil
            return true
        }
    }

    /// Inserts a row as a user's `INSERT` would (no validation, no first fire).
    @discardableResult
    public func insertRaw(_ row: TaskRow) -> Int64 {
        state.withLock { state in
            var row = row
            row.id = state.nextTaskID
            state.nextTaskID += 1
            row.version = RowVersion(state.nextVersion)
            state.nextVersion += 1
            state.tasks[row.id] = row
            return row.id
        }
    }
}

extension TaskRow {
    /// Takes a plan's next fire (status only while active, unless `status` is forced).
    mutating func take(_ plan: FirePlanner.Plan, statusOnlyIfActive: Bool = false) {
        nextRun = plan.nextRun
        fireAt = plan.fireAt
        attempt = plan.attempt
        if !statusOnlyIfActive || status == .active { status = plan.status }
        error = plan.error
    }

    /// What a finish (or a concurrent start) makes of the row.
    mutating func take(_ change: FinishRule.Change) {
        status = change.status
        nextRun = change.nextRun
        fireAt = change.fireAt
        attempt = change.attempt
        error = change.error
        lastDuration = change.lastDuration
    }

    mutating func free() {
        claimToken = nil
        claimedBy = nil
    }
}
