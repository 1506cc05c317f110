import Foundation
import SundialCore

/// What really ran, kept apart from the store's own bookkeeping: every execution with its start
/// and end on the virtual clock. The invariants are checked against it.
final class Evidence {
    struct Execution {
        var task: Int64
        var fire: Date
        var attempt: Int
        var executor: String
        /// The token it ran under (its claim's, or its retry's).
        var token: ClaimToken
        var start: Duration
        var end: Duration?
        /// The handler ran to its end (not killed, not cut short).
        var completed = false
        /// Its executor process died while it ran.
        var crashedExecutor = false
    }

    private(set) var executions: [Execution] = []
    private var inFlight: [Int64: Int] = [:]
    private var atMostOnceStarts: Set<String> = []
    private(set) var violations: [String] = []

    /// Records a start; returns its index. Checks the concurrency limit and at-most-once.
    func start(
        task: TaskRow, fire: Date, attempt: Int, executor: String, token: ClaimToken, at now: Duration
    ) -> Int {
        let running = (inFlight[task.id] ?? 0) + 1
        inFlight[task.id] = running
        if running > task.maxConcurrency {
            violations.append(
                "at \(now): task \(task.id) (\(task.name)) has \(running) executions at once, more than max_concurrency \(task.maxConcurrency) (\(executor) started the fire \(fire) attempt \(attempt))"
            )
        }
        if task.delivery == .atMostOnce {
            // Each attempt at most once (a failed attempt is retried as the next one).
            let fireKey = "\(task.id)@\(fire.timeIntervalSince1970)#\(attempt)"
            if !atMostOnceStarts.insert(fireKey).inserted {
                violations.append(
                    "at \(now): at_most_once task \(task.id) (\(task.name)) started the fire \(fire) attempt \(attempt) twice (\(executor))"
                )
            }
        }
        executions.append(
            Execution(
                task: task.id, fire: fire, attempt: attempt, executor: executor, token: token, start: now, end: nil))
        return executions.count - 1
    }

    func end(_ index: Int, at now: Duration, completed: Bool) {
        guard executions[index].end == nil else { return }
        executions[index].end = now
        executions[index].completed = completed
        inFlight[executions[index].task, default: 1] -= 1
    }

    /// Its executor process died while it ran (ends it, not completed).
    func crash(_ index: Int, at now: Duration) {
        if executions[index].end == nil { executions[index].crashedExecutor = true }
        end(index, at: now, completed: false)
    }

    func violation(_ text: String) { violations.append(text) }

    func completedFires(of task: Int64) -> Set<Date> {
        Set(executions.filter { $0.task == task && $0.completed }.map(\.fire))
    }

    func executions(of task: Int64) -> [Execution] { executions.filter { $0.task == task } }
}
