/// A fault the in-memory store injects into one call, for tests and the simulator.
public enum StoreFault: Sendable, Equatable {
    /// The call fails before doing anything (`unavailable`).
    case unavailable
    /// The call does nothing and fails as a deadlock or lock wait would (`conflict`).
    case conflict
    /// The call is applied, then the answer is lost (`outcomeUnknown`).
    case lostAnswer
    /// The call fails without being applied, but the caller cannot know (`outcomeUnknown`).
    case lostRequest
    /// The client is cut off in the middle of the call's transaction (`outcomeUnknown`): the
    /// transaction is never committed, and its row locks stay until the server rolls it back
    /// (`InMemoryStore.idleTransactionTimeout`). Only for calls MySQL makes in a transaction.
    case cutOffInTransaction
}

/// The store's calls, as fault injection names them.
public enum StoreOperation: String, Sendable, CaseIterable {
    case now, claim, release, stillClaimed, markInvalid, abandonResult, startConcurrentRun, dueRetries, record
    case runHolders
    case killRequests
    case register, renewLease, setState, expiredHolders, recover, executors
    case insert, tasks, task, runs, changeStatus, runNow, requestKill, delete, dueBacklog
    case unscheduledRows, scheduleFirstFire, markInvalidUnclaimed, pruneRuns, pruneExecutors
    case raiseAlerts, claimAlerts, settleAlert, alerts, overdueFires, taskSeries, pruneAlerts
    case access, update, runHistory, overview

    /// Whether the MySQL store makes this call in a transaction of several statements (a client
    /// can be cut off between them, its row locks held).
    public var isTransaction: Bool {
        switch self {
        case .claim, .abandonResult, .startConcurrentRun, .recover, .record, .raiseAlerts, .claimAlerts: true
        default: false
        }
    }
}
