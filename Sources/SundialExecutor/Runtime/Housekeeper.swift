import Foundation
import Logging
import SundialActions
import SundialCore

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

    public init(store: any SundialStore, definitions: TaskDefinitions, executorID: String, logger: Logger) {
        (self.store, self.definitions, self.executorID, self.logger) = (store, definitions, executorID, logger)
    }

    /// The planner's decision for a fire cut short with its executor (recovery, shutdown).
    public var interruptionPlan: @Sendable (InterruptedFire) -> FirePlanner.Plan {
        let definitions = self.definitions
        return { fire in
            let schedule = try? definitions.schedule(for: fire.row).get()
            return FirePlanner(row: fire.row, schedule: schedule).afterInterruption(
                fireAt: fire.scheduledFor, attempt: fire.attempt, now: fire.now,
                reason: "its executor stopped during the run")
        }
    }

    /// Recovers the work of every executor whose lease has ended, by the store's clock and that
    /// executor's own lease.
    /// Each holder on its own: one whose recovery fails does not hold up the others.
    public func recoverExpired() {
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
                    plan: interruptionPlan)
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
    public func pruneHistory(_ policy: RetentionPolicy, batches: Int = 10) -> Bool {
        do {
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
