import Foundation
import SundialSchedule

/// Decides what a task row becomes after a fire, without any I/O: the retry, the next fire
/// (following the misfire policy), or the end of a one-shot.
///
/// Times are the database's: `now` is `NOW(6)` as read from the database.
public struct FirePlanner: Sendable {
    /// How a run ended.
    public enum Outcome: Sendable, Equatable {
        case succeeded
        case failed(String)
        case timedOut
        /// Stopped on request: never retried.
        case killed
    }

    /// The row's next state.
    public struct Plan: Sendable, Equatable {
        public var status: TaskRow.Status
        public var nextRun: Date?
        public var fireAt: Date?
        public var attempt: Int
        public var error: String?
        /// Moving on found fires already missed, which the misfire policy handled (for metrics;
        /// not stored).
        public var misfired = false

        public init(status: TaskRow.Status, nextRun: Date?, fireAt: Date?, attempt: Int, error: String?) {
            (self.status, self.nextRun, self.fireAt, self.attempt, self.error) = (
                status, nextRun, fireAt, attempt, error
            )
        }
    }

    public let schedule: Schedule?
    public let row: TaskRow

    public init(row: TaskRow, schedule: Schedule?) {
        self.row = row
        self.schedule = schedule
    }

    /// After attempt `attempt` (0-based) of the fire scheduled for `fireAt` ended with `outcome`.
    /// `jitter` in 0...1 spreads retries (pass a random number; tests pass fixed ones).
    public func afterRun(fireAt: Date, attempt: Int, outcome: Outcome, now: Date, jitter: Double) -> Plan {
        storable(planAfterRun(fireAt: fireAt, attempt: attempt, outcome: outcome, now: now, jitter: jitter))
    }

    private func planAfterRun(fireAt: Date, attempt: Int, outcome: Outcome, now: Date, jitter: Double) -> Plan {
        let error: String?
        switch outcome {
        case .succeeded: error = nil
        case .failed(let message): error = message
        case .timedOut: error = "timed out after \(Self.seconds(row.timeoutSeconds ?? 0))"
        case .killed: error = "killed on request"
        }
        let retryable = outcome != .succeeded && outcome != .killed
        let next = Self.following(attempt)
        if retryable && next < row.maxAttempts {
            let delay = backoff(retry: next, jitter: jitter)
            return Plan(
                status: .active, nextRun: now.addingTimeInterval(delay), fireAt: fireAt, attempt: next, error: error)
        }
        guard let schedule, schedule.isRecurring else {
            return Plan(
                status: outcome == .succeeded ? .done : .dead, nextRun: nil, fireAt: nil, attempt: attempt, error: error
            )
        }
        return planMoveOn(after: fireAt, now: now, error: error)
    }

    /// After attempt `attempt` of the fire `fireAt` was cut short by its executor (it died, lost its
    /// lease, or shut down): `at_least_once` runs the fire again now as its next attempt;
    /// `at_most_once` gives the fire up: a recurring task moves on, a one-shot is dead.
    public func afterInterruption(fireAt: Date, attempt: Int, now: Date, reason: String) -> Plan {
        storable(planAfterInterruption(fireAt: fireAt, attempt: attempt, now: now, reason: reason))
    }

    private func planAfterInterruption(fireAt: Date, attempt: Int, now: Date, reason: String) -> Plan {
        if row.delivery == .atLeastOnce {
            return Plan(status: .active, nextRun: now, fireAt: fireAt, attempt: Self.following(attempt), error: reason)
        }
        guard let schedule, schedule.isRecurring else {
            return Plan(status: .dead, nextRun: nil, fireAt: nil, attempt: attempt, error: reason)
        }
        return planMoveOn(after: fireAt, now: now, error: reason)
    }

    /// After its executor was *lost* (it died, or froze past its lease, and another executor
    /// recovers its work) while it held attempt `attempt` of the fire `fireAt`; `startOnRecord`:
    /// the attempt's start is in the run history; `lostBefore`: earlier attempts of the fire lost
    /// the same way. Nil: the fire is freed as it was (it cannot have started).
    ///
    /// A lost executor may have died *of* the fire (an OOM kill, a crashing Swift handler, a job
    /// that takes the process down), so each loss counts as an attempt, whether or not its start
    /// made it to the history (an `at_least_once` start is written after the handler began):
    /// - `at_least_once` runs the fire again as its next attempt while attempts remain, and after
    ///   its first loss always (the delivery's promise), whatever `max_attempts` and the failures
    ///   before say: the first time at once, later ones after the backoff. Then the fire is given up: a one-shot is `dead`,
    ///   a recurring task moves on to its next fire. A fire that kills every executor that starts
    ///   it stops after `lostAttemptsAllowed` attempts instead of crash-looping the fleet.
    /// - `at_most_once` gives the fire up when its start is on record; when it is not, the fire
    ///   never started (it starts only once its start is written) and is freed as it was.
    /// A fire due after the lost executor's lease had ended (`leaseEnd`) cannot have started
    /// either (an executor starts nothing once it fences itself, before its lease ends).
    public func afterExecutorLost(
        fireAt: Date, attempt: Int, now: Date, startOnRecord: Bool, leaseEnd: Date?, lostBefore: Int,
        jitter: Double
    ) -> Plan? {
        if !startOnRecord {
            if claimStartsOnlyOnRecord { return nil }
            // Not due before the lease ended (when it was claimed: an edit may have moved it since).
            if let due = row.claimedDue, let leaseEnd, due > leaseEnd { return nil }
        }
        let next = Self.following(attempt)
        let losses = lostBefore + 1
        let reason =
            startOnRecord
            ? "its executor was lost during the run (attempt \(attempt + 1))"
            : "its executor was lost after claiming it, before its start was on record (attempt \(attempt + 1))"
        if row.delivery == .atLeastOnce && (next < row.maxAttempts || lostBefore == 0) {
            let delay = lostBefore == 0 ? 0 : backoff(retry: lostBefore, jitter: jitter)
            return storable(
                Plan(
                    status: .active, nextRun: now.addingTimeInterval(delay), fireAt: fireAt, attempt: next,
                    error: reason))
        }
        let givenUp =
            row.delivery == .atLeastOnce
            ? "\(reason); given up after \(next) attempts, \(losses) of them lost with their executor (the task may be what kills them)"
            : "\(reason); given up (at_most_once)"
        guard let schedule, schedule.isRecurring else {
            return storable(Plan(status: .dead, nextRun: nil, fireAt: nil, attempt: attempt, error: givenUp))
        }
        return storable(planMoveOn(after: fireAt, now: now, error: givenUp))
    }

    /// Whether an attempt of this row's fires starts only once its start is on record: an
    /// `at_most_once` one (its durable start) and a concurrent one (counted in `running` first).
    /// A claim of such a row with no start on record certainly never ran.
    public var startsOnlyOnRecord: Bool {
        row.delivery == .atMostOnce || (row.maxConcurrency > 1 && schedule?.isRecurring == true)
    }

    /// Whether the row's current claim started its attempt only on record: its settings say so,
    /// and nothing changed the row since the claim (an edit may have changed the settings the
    /// claim started under, from at_least_once say: then it may have started unrecorded).
    public var claimStartsOnlyOnRecord: Bool {
        startsOnlyOnRecord && !row.changedSinceClaim
    }

    /// The most attempts of one fire that can end with their executor lost before the fire is
    /// given up (`afterExecutorLost`): `max_attempts`, and at least 2 for `at_least_once` (a fire
    /// lost once always runs again).
    public static func lostAttemptsAllowed(_ row: TaskRow) -> Int {
        row.delivery == .atLeastOnce ? max(row.maxAttempts, 2) : 1
    }

    /// After an attempt whose handler never ran: the same fire again, as the next attempt, for
    /// either delivery (nothing ran, so `at_most_once` still holds).
    public func afterNotRun(fireAt: Date, attempt: Int, now: Date, reason: String) -> Plan {
        storable(Plan(status: .active, nextRun: now, fireAt: fireAt, attempt: Self.following(attempt), error: reason))
    }

    /// The fire after `fireAt`, with missed fires handled by the misfire policy. Used after a run,
    /// and when a lost `at_most_once` fire is given up.
    public func moveOn(after fireAt: Date, now: Date, error: String? = nil) -> Plan {
        storable(planMoveOn(after: fireAt, now: now, error: error))
    }

    private func planMoveOn(after fireAt: Date, now: Date, error: String?) -> Plan {
        guard let schedule = schedule?.anchored(at: fireAt), let next = schedule.next(after: fireAt) else {
            return Plan(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: error)
        }
        var fire = next
        if next <= now {
            switch row.misfirePolicy {
            case .runOnce:
                // One catch-up run, for the latest missed fire.
                fire = schedule.previous(before: now.addingTimeInterval(0.000_001)) ?? next
            case .skip:
                guard let upcoming = schedule.next(after: now) else {
                    return Plan(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: error)
                }
                fire = upcoming
            case .runAll:
                // Every missed fire, but no more than the last `misfireLimit` of them.
                var earliest = next
                var cursor = now.addingTimeInterval(0.000_001)
                for _ in 0..<min(max(row.misfireLimit, 1), Self.mostMissedFires) {
                    guard let previous = schedule.previous(before: cursor), previous >= next else { break }
                    earliest = previous
                    cursor = previous
                }
                fire = earliest
            }
        }
        var plan = Plan(status: .active, nextRun: fire, fireAt: fire, attempt: 0, error: error)
        plan.misfired = next <= now
        return plan
    }

    /// Where a row without `next_run` starts: the first fire after `now`, or now for a one-shot.
    public func firstFire(now: Date) -> Plan {
        storable(planFirstFire(now: now))
    }

    private func planFirstFire(now: Date) -> Plan {
        guard let schedule else {
            return Plan(status: .active, nextRun: now, fireAt: now, attempt: 0, error: nil)
        }
        if case .once(let at) = schedule.kind {
            // A one-shot in the past still runs, once: that is what its author asked for.
            return Plan(status: .active, nextRun: at, fireAt: at, attempt: 0, error: nil)
        }
        guard let next = schedule.next(after: now) else {
            return Plan(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: "the schedule has no future fire")
        }
        return Plan(status: .active, nextRun: next, fireAt: next, attempt: 0, error: nil)
    }

    /// A plan whose times a store can hold; otherwise the row becomes invalid, saying why.
    private func storable(_ plan: Plan) -> Plan {
        for time in [plan.nextRun, plan.fireAt].compactMap({ $0 }) where !StorableTime.contains(time) {
            return Plan(
                status: .invalid, nextRun: nil, fireAt: nil, attempt: 0,
                error: "the next fire is outside the years 1000 to 9999 (a store cannot hold it)")
        }
        var plan = plan
        plan.attempt = min(max(plan.attempt, 0), Self.lastAttempt)
        return plan
    }

    /// Seconds to wait before retry `retry` (1-based): `backoff_seconds × 2^(retry-1)`, capped at
    /// `backoff_max_seconds`, then scaled by a random factor between ½ and 1 so that many tasks
    /// failing together do not retry together.
    public func backoff(retry: Int, jitter: Double) -> Double {
        let exponential = row.backoffSeconds * pow(2, Double(min(max(retry - 1, 0), 40)))
        // A year at most, whatever the row says: a retry is never scheduled out of a store's range.
        let capped = min(exponential, row.backoffMaxSeconds, 366 * 86_400)
        return capped * (0.5 + 0.5 * min(max(jitter, 0), 1))
    }

    /// A jitter in 0...1 that depends only on the attempt (SplitMix64 of its key): decisions that
    /// any executor may make, such as recovery's, come out the same whoever makes them, and the
    /// simulator's seeds stay reproducible, while many tasks lost together still spread out.
    public static func stableJitter(_ key: RunKey) -> Double {
        let micros = UInt64(bitPattern: Int64((key.scheduled.timeIntervalSince1970 * 1_000_000).rounded()))
        var z =
            UInt64(bitPattern: key.task) &* 0x9E37_79B9_7F4A_7C15 ^ micros ^ UInt64(truncatingIfNeeded: key.attempt)
            << 48
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53)
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? "\(Int(value)) s" : "\(value) s"
    }

    /// The most missed fires `run_all` catches up on, whatever `misfire_limit` says: each is
    /// looked for on the schedule when a run ends, so a huge limit would stall the executor.
    public static let mostMissedFires = 1_000

    /// The highest attempt number a store keeps (MySQL: `INT UNSIGNED`).
    public static let lastAttempt = Int(UInt32.max)

    /// The attempt after `attempt`, whatever the row says (a column may hold anything): it stays
    /// at `lastAttempt`, so that a plan is always storable.
    public static func following(_ attempt: Int) -> Int { attempt >= lastAttempt ? lastAttempt : max(0, attempt) + 1 }
}
