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
}
