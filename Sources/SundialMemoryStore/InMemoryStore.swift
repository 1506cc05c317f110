import Foundation
import SundialCore
import Synchronization

/// A store in memory with the MySQL mapper's semantics: tokens, fencing, leases on its own clock,
/// the same claim order. For the simulator and unit tests; `StoreConformance` holds both to the
/// same rules.
///
/// Faults are injected per call through `faults`: a call may fail before it does anything, or
/// be applied and then lose its answer, as a dying connection would.
public final class InMemoryStore: Sendable {
    public let clock: StoreClock
    let state = Mutex(State())
    private let injector = Mutex<(@Sendable (StoreOperation) -> StoreFault?)?>(nil)

    public init(clock: StoreClock = .system) {
        self.clock = clock
    }

    /// Decides, call by call, whether a fault is injected.
    public func injectFaults(_ decide: (@Sendable (StoreOperation) -> StoreFault?)?) {
        injector.withLock { $0 = decide }
    }

    struct StoredRun {
        var id: Int64
        var record: RunRecord
        var killRequested: Bool
    }

    struct StoredExecutor {
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

    /// Runs `body` under the lock, with injected faults applied around it.
    func call<T>(_ operation: StoreOperation, _ body: (inout State, Date) throws(StoreError) -> T) throws(StoreError)
        -> T
    {
        let fault = injector.withLock { $0?(operation) }
        switch fault {
        case .unavailable?: throw StoreError(.unavailable, "injected: \(operation) could not reach the store")
        case .conflict?: throw StoreError(.conflict, "injected: \(operation) hit a deadlock")
        case .lostRequest?: throw StoreError(.outcomeUnknown, "injected: \(operation) lost its connection")
        case .lostAnswer?, nil: break
        }
        let now = clock.now
        let result = try state.withLock { (state: inout State) throws(StoreError) -> T in try body(&state, now) }
        if fault == .lostAnswer { throw StoreError(.outcomeUnknown, "injected: \(operation) lost its answer") }
        return result
    }

    // MARK: Inspection, for tests and the simulator

    /// Every task row.
    public var allTasks: [TaskRow] { state.withLock { $0.tasks.values.sorted { $0.id < $1.id } } }

    /// Every run row.
    public var allRuns: [RunRecord] {
        state.withLock { $0.runs.values.sorted { $0.id < $1.id }.map(\.record) }
    }

    /// Changes a row from outside, as a user's SQL would (a new version).
    public func edit(taskID: Int64, _ change: @Sendable (inout TaskRow) -> Void) {
        state.withLock { $0.update(taskID, change) }
    }

    /// Deletes a row from outside.
    public func remove(taskID: Int64) {
        _ = state.withLock { $0.tasks.removeValue(forKey: taskID) }
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
