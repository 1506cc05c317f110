import Foundation
import Logging
import SundialActions
import SundialCore
import SundialSchedule
import Synchronization

/// The executor's background work against the store, one synchronous step at a time: recovering
/// the work of executors whose lease ended, giving new rows their first fire, pruning history.
/// The runtime calls it from its housekeeping thread; the simulator calls it from its virtual
/// clock. Failures are logged and the step is simply tried again next time: every step is
/// idempotent.
public struct Housekeeper: Sendable {
    public let store: any SundialStore
    public let definitions: TaskDefinitions
    public let executorID: String
    public let logger: Logger
    /// Where the next look for late fires resumes (nil: at the most overdue).
    private let lateCursor = LateCursor()

    /// Shared by the copies of this value (it is a struct the simulator and runtime pass around).
    private final class LateCursor: Sendable {
        let value = Mutex<OverdueCursor?>(nil)
    }

    public init(store: any SundialStore, definitions: TaskDefinitions, executorID: String, logger: Logger) {
        (self.store, self.definitions, self.executorID, self.logger) = (store, definitions, executorID, logger)
    }

    /// The planner's decision for a fire cut short with its executor: lost (recovery by another
    /// executor) or stopped (what a clean stop could not write itself). Nil frees the row as it was.
    public var interruptionPlan: @Sendable (InterruptedFire) -> FirePlanner.Plan? {
        let definitions = self.definitions
        return { fire in
            let schedule = try? definitions.schedule(for: fire.row).get()
            let planner = FirePlanner(row: fire.row, schedule: schedule)
            if fire.executorLost {
                return planner.afterExecutorLost(
                    fireAt: fire.scheduledFor, attempt: fire.attempt, now: fire.now, startOnRecord: fire.startOnRecord,
                    leaseEnd: fire.leaseEnd, lostBefore: fire.lostBefore, jitter: FirePlanner.stableJitter(fire.key))
            }
            // A clean stop frees what it still holds: a claim without a start on record may still
            // have run (its result could not be written), unless it starts only on record.
            guard fire.startOnRecord || !planner.claimStartsOnlyOnRecord else { return nil }
            return planner.afterInterruption(
                fireAt: fire.scheduledFor, attempt: fire.attempt, now: fire.now,
                reason: "its executor stopped during the run")
        }
    }

    /// Recovers the work of every executor whose lease has ended, by the store's clock and that
    /// executor's own lease.
    /// Each holder on its own: one whose recovery fails does not hold up the others.
    /// An executor found dead raises `executor_dead` through `alerting`.
    public func recoverExpired(alerting: AlertRouting = AlertRouting()) {
        let holders: [String]
        do {
            holders = try store.expiredHolders()
        } catch {
            logger.warning("could not look for expired leases; trying again next time", metadata: ["error": "\(error)"])
            return
        }
        for holder in holders where holder != executorID {
            do {
                let report = try store.recover(
                    executor: holder, reason: "executor \(holder) lost its lease", self: false,
                    plan: interruptionPlan, alerts: recoveryAlerts(alerting))
                if report.recovered && (report.lostRuns > 0 || report.freedRows > 0) {
                    logger.warning(
                        "recovered the work of an executor whose lease ended",
                        metadata: [
                            "from": "\(holder)", "runs lost": "\(report.lostRuns)", "rows freed": "\(report.freedRows)",
                        ])
                }
            } catch {
                logger.warning(
                    "recovery failed; trying again next time", metadata: ["from": "\(holder)", "error": "\(error)"])
            }
        }
    }

    /// Raises `missed` for fires not started within their late threshold, and
    /// `no_executor_for_action` when no live executor could run them: looked at by every executor,
    /// whatever its tags and actions, so a fire is reported even when all that could run it are
    /// down. Reads the `limit` most overdue free rows (by index) and the registry.
    public func checkLateFires(_ alerting: AlertRouting, limit: Int = 500) {
        guard !alerting.isEmpty else { return }
        do {
            // A page at a time, most overdue first, resuming after the last page: rows overdue
            // for good (an action nobody runs) cannot hide the ones behind them.
            let after = lateCursor.value.withLock { $0 }
            let page = try store.overdueFires(lateBy: min(alerting.lateAfter, .seconds(1)), after: after, limit: limit)
            lateCursor.value.withLock { $0 = page.count < limit ? nil : page.last.map { OverdueCursor($0.row) } }
            let overdue = page.filter { $0.late >= alerting.lateAfter(for: $0.row) }
            guard !overdue.isEmpty else { return }
            let now = try store.now()
            let live = try store.executors().filter {
                ($0.state == .running || $0.state == .stopping) && $0.leaseExpiresAt >= now
            }
            var drafts: [AlertDraft] = []
            var unserved: [String: AlertDraft] = [:]
            for fire in overdue {
                let row = fire.row
                let seconds = Int(min(fire.late.timeInterval, 1e15).rounded(.down))
                let due = row.nextRun.map { RFC3339.format($0) } ?? "now"
                let able = live.filter {
                    $0.actions.contains(row.action) && CommaList.tagsAllow(row.tags, executorTags: $0.tags)
                }
                let placement = row.tags.map { " with tags \($0)" } ?? ""
                let why =
                    able.isEmpty
                    ? "no live executor runs action \(row.action)\(placement)"
                    : "\(able.count) live executor(s) could run it; they may be busy or behind"
                drafts += alerting.drafts(
                    .missed, task: row,
                    run: row.fireAt.map { RunKey(task: row.id, scheduled: $0, attempt: row.attempt) },
                    summary: "\(row.name) has not started: it was due at \(due), \(seconds) s ago", detail: why,
                    raisedBy: executorID)
                let subject = "action:\(row.action)\(row.tags.map { " tags:\($0)" } ?? "")"
                if able.isEmpty && unserved[subject] == nil {
                    for draft in alerting.fleetDrafts(
                        .noExecutorForAction, subject: subject,
                        summary:
                            "no live executor runs action \(row.action)\(placement); \(row.name) and any like it wait",
                        detail: "live executors: \(live.map(\.id).joined(separator: ", "))", raisedBy: executorID)
                    {
                        unserved[subject] = draft
                        drafts.append(draft)
                    }
                }
            }
            // Small transactions: executors raising the same alerts lock the same rows briefly.
            for start in stride(from: 0, to: drafts.count, by: 50) {
                raise(Array(drafts[start..<min(start + 50, drafts.count)]))
            }
        } catch {
            logger.warning("could not look for late fires", metadata: ["error": "\(error)"])
        }
    }

    /// Raises alerts; a failure is logged (the next heartbeat looks again).
    public func raise(_ drafts: [AlertDraft]) {
        guard !drafts.isEmpty else { return }
        do {
            let written = try store.raise(drafts)
            if written > 0 {
                logger.notice(
                    "raised alerts",
                    metadata: ["count": "\(written)", "events": "\(Set(drafts.map(\.event.rawValue)).sorted())"])
            }
        } catch {
            logger.warning("could not raise alerts", metadata: ["error": "\(error)"])
        }
    }

    /// The alerts recovery raises in its own transaction: the executor found dead, and each fire
    /// it gives up.
    public func recoveryAlerts(_ alerting: AlertRouting) -> @Sendable (RecoveryEvent) -> [AlertDraft] {
        let executorID = self.executorID
        return { event in
            switch event {
            case .executorDead(let holder):
                return alerting.fleetDrafts(
                    .executorDead, subject: "executor:\(holder)",
                    summary: "executor \(holder) stopped renewing its lease; its work was taken over",
                    detail:
                        "its running attempts were ended as lost (at_least_once fires run again) and its claims freed",
                    raisedBy: executorID)
            case .fireGivenUp(let fire, let run, let events):
                let why =
                    fire.row.delivery == .atMostOnce
                    ? "(at_most_once)"
                    : "\(fire.lostBefore + 1) times: it may be what kills its executors"
                return events.flatMap { event in
                    alerting.drafts(
                        event, task: fire.row, run: run,
                        summary: event == .dead
                            ? "\(fire.row.name) was lost with its executor \(why); it is dead until resumed"
                            : "\(fire.row.name) was lost with its executor \(why); it moves on to its next fire",
                        detail: fire.startOnRecord
                            ? "its executor stopped renewing its lease during the run"
                            : "its executor stopped renewing its lease after claiming it, before its start was on record",
                        raisedBy: executorID)
                }
            }
        }
    }

    /// Gives rows inserted without a `next_run` their first fire (or `invalid`, with the reason).
    public func scheduleNewRows(limit: Int = 500) {
        do {
            let rows = try store.unscheduledRows(limit: limit)
            guard !rows.isEmpty else { return }
            let now = try store.now()
            for row in rows {
                switch definitions.schedule(for: row) {
                case .failure(let invalid):
                    _ = try store.markInvalid(taskID: row.id, error: invalid.message)
                case .success(let schedule):
                    _ = try store.scheduleFirstFire(
                        taskID: row.id, plan: FirePlanner(row: row, schedule: schedule).firstFire(now: now))
                }
            }
        } catch {
            logger.warning("could not schedule new rows", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes old runs and long-stopped executors' rows, in small batches, a bounded number per
    /// call. Returns true when every batch deleted something: more may be waiting (call again soon).
    @discardableResult
    public func pruneHistory(
        _ policy: RetentionPolicy, alertsOlderThan alertAge: Duration? = nil, batches: Int = 10
    ) -> Bool {
        do {
            if let alertAge {
                let pruned = try store.pruneAlerts(
                    before: store.now().addingTimeInterval(-alertAge.timeInterval), limit: 1_000)
                if pruned > 0 { logger.info("pruned alerts", metadata: ["alerts": "\(pruned)"]) }
            }
            var runs = 0
            var busy = 0
            for _ in 0..<batches {
                let deleted = try store.pruneRuns(policy, limit: 1_000)
                runs += deleted
                guard deleted > 0 else { break }
                busy += 1
            }
            let executors = try store.pruneExecutors(policy, limit: 100)
            if runs > 0 || executors > 0 {
                logger.info("pruned history", metadata: ["runs": "\(runs)", "executors": "\(executors)"])
            }
            return busy == batches
        } catch {
            logger.warning("could not prune history", metadata: ["error": "\(error)"])
            return false
        }
    }
}
