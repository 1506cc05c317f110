import Foundation
import Logging
import SundialMySQL

/// One attempt's row in `cron_run`, as the executor knows it.
public struct RunRecord: Sendable {
    public var taskID: Int64
    public var token: Int64
    public var scheduledFor: Date
    public var attempt: Int
    public var executor: String
    /// Database time the attempt started (estimated from the executor's measured clock offset).
    public var startedAt: Date
    public var finishedAt: Date?
    public var status: String
    public var exitCode: Int?
    public var output: String?
    public var error: String?

    public init(
        taskID: Int64, token: Int64, scheduledFor: Date, attempt: Int, executor: String, startedAt: Date,
        finishedAt: Date? = nil, status: String, exitCode: Int? = nil, output: String? = nil, error: String? = nil
    ) {
        (self.taskID, self.token, self.scheduledFor, self.attempt, self.executor) = (
            taskID, token, scheduledFor, attempt, executor
        )
        (self.startedAt, self.finishedAt, self.status) = (startedAt, finishedAt, status)
        (self.exitCode, self.output, self.error) = (exitCode, output, error)
    }
}

/// What the row becomes after a run: the planner's plan, fenced by the claim token, plus what the
/// row looked like at the claim so that edits made meanwhile win.
public struct RowUpdate: Sendable {
    public var taskID: Int64
    public var token: Int64
    public var plan: FirePlanner.Plan
    public var claimedSchedule: String?
    public var claimedTimezone: String
    public var claimedNextRun: Date?
    /// A concurrent run (max_concurrency > 1): only `running` goes down, the row was freed at start.
    public var detached: Bool
    /// Seconds the attempt ran, when it ran to an end (not when it was interrupted).
    public var duration: Double?

    public init(
        taskID: Int64, token: Int64, plan: FirePlanner.Plan, claimedSchedule: String?, claimedTimezone: String,
        claimedNextRun: Date?, detached: Bool, duration: Double? = nil
    ) {
        (self.taskID, self.token, self.plan) = (taskID, token, plan)
        (self.claimedSchedule, self.claimedTimezone, self.claimedNextRun, self.detached) =
            (claimedSchedule, claimedTimezone, claimedNextRun, detached)
        self.duration = duration
    }
}

/// Group commit for run bookkeeping: started and finished runs are queued and written by one
/// thread in batches, each batch one transaction (one fsync) with multi-row statements, because one
/// commit per run would cap throughput at the disk's fsync rate.
public final class RunRecorder: @unchecked Sendable {
    public let store: TaskStore
    private let condition = NSCondition()
    private var started: [RunRecord] = []
    private var finished: [(RunRecord, RowUpdate)] = []
    private var stopping = false
    private var thread: Thread?
    private var flushedGeneration = 0
    private var queuedGeneration = 0
    /// Generations someone waits for (`flush`, durable starts): written without the batching pause.
    private var urgentGeneration = 0
    /// When the oldest queued entry arrived.
    private var oldestQueued: ContinuousClock.Instant?
    /// Most entries per multi-row statement (a power of two).
    static let chunk = 64
    /// How long the first entry of a batch waits for others. Runs due on the same second start
    /// together; writing them as one batch a moment later costs the database one commit instead of
    /// dozens while they start (and the CPU they need to start), and a run that ends within the
    /// pause is written once instead of twice.
    static let batchWindow: Duration = .milliseconds(50)

    public init(store: TaskStore) {
        self.store = store
    }

    public func start() {
        let thread = Thread { [self] in self.loop() }
        thread.name = "sundial-recorder"
        self.thread = thread
        thread.start()
    }

    /// Queues the start of a run. With `durable`, blocks until it is written (or `timeout`
    /// passes: then false), for runs that must not start unless their start is on record.
    @discardableResult
    public func runStarted(_ run: RunRecord, durable: Bool = false, timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        started.append(run)
        enqueued()
        guard durable else { return true }
        return waitForFlush(of: queuedGeneration, until: Date().addingTimeInterval(timeout))
    }

    public func runFinished(_ run: RunRecord, update: RowUpdate) {
        condition.lock()
        finished.append((run, update))
        enqueued()
        condition.unlock()
    }

    /// Under the lock.
    private func enqueued() {
        queuedGeneration += 1
        if oldestQueued == nil {
            oldestQueued = .now
            condition.signal()
        }
    }

    /// Under the lock.
    private func waitForFlush(of generation: Int, until deadline: Date) -> Bool {
        urgentGeneration = max(urgentGeneration, generation)
        condition.broadcast()
        while flushedGeneration < generation {
            if !condition.wait(until: deadline) { return flushedGeneration >= generation }
        }
        return true
    }

    /// Blocks until everything queued so far is written (or `timeout` passes).
    @discardableResult
    public func flush(timeout: TimeInterval = 30) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return waitForFlush(of: queuedGeneration, until: Date().addingTimeInterval(timeout))
    }

    /// Writes what is queued and stops the thread.
    public func stop() {
        flush()
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            while started.isEmpty && finished.isEmpty && !stopping { condition.wait() }
            if stopping && started.isEmpty && finished.isEmpty { break }
            // The batching pause, cut short when someone waits for the write.
            if let oldest = oldestQueued, !stopping {
                let until = oldest + Self.batchWindow
                while urgentGeneration <= flushedGeneration && ContinuousClock.now < until && !stopping {
                    _ = condition.wait(until: Date().addingTimeInterval((until - .now).timeInterval))
                }
            }
            let starts = started
            let ends = finished
            let generation = queuedGeneration
            started.removeAll(keepingCapacity: true)
            finished.removeAll(keepingCapacity: true)
            oldestQueued = nil
            condition.unlock()
            write(starts: starts, ends: ends)
            condition.lock()
            flushedGeneration = generation
            condition.broadcast()
        }
        condition.unlock()
    }

    private func write(starts: [RunRecord], ends: [(RunRecord, RowUpdate)]) {
        // A run that started and finished within one batch is written once, finished.
        let endedKeys = Set(ends.map { RunKey($0.0) })
        let runs = starts.filter { !endedKeys.contains(RunKey($0)) } + ends.map(\.0)
        var attempt = 0
        while true {
            attempt += 1
            do {
                try store.database.transaction { c in
                    for chunk in runs.chunkedInPowersOfTwo(upTo: Self.chunk) { try upsertRuns(chunk, on: c) }
                    for chunk in ends.map(\.1).chunkedInPowersOfTwo(upTo: Self.chunk) {
                        try updateRows(chunk, on: c)
                    }
                }
                return
            } catch {
                // Nothing of a failed batch is lost: it is written again until the database answers.
                store.logger.error(
                    "writing run results failed; retrying", metadata: ["error": "\(error)", "runs": "\(runs.count)"])
                Thread.sleep(forTimeInterval: min(5, 0.1 * Double(attempt)))
            }
        }
    }

    private func upsertRuns(_ runs: ArraySlice<RunRecord>, on c: MySQLConnection) throws {
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        // A late result never overwrites a run another executor already ended (lost, killed…).
        let sql = """
            INSERT INTO cron_run (cron_id, task_id, scheduled_for, attempt, executor, started_at, finished_at, status, exit_code, output, error, kill_requested_at) \
            VALUES \(Array(repeating: row, count: runs.count).joined(separator: ", ")) \
            ON DUPLICATE KEY UPDATE \
            finished_at = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(finished_at), finished_at), \
            exit_code = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(exit_code), exit_code), \
            output = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(output), output), \
            error = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(error), error), \
            status = IF(status = 'running' AND task_id = VALUES(task_id), VALUES(status), status)
            """
        var values: [MySQLValue] = []
        values.reserveCapacity(runs.count * 12)
        for run in runs {
            values += [
                .int(run.taskID), .int(run.token), .date(run.scheduledFor), .int(Int64(run.attempt)),
                .string(run.executor),
                .date(run.startedAt), .init(run.finishedAt), .string(run.status), .init(run.exitCode),
                .init(run.output),
                .init(run.error), .null,
            ]
        }
        try c.execute(sql, values)
    }

    private func updateRows(_ updates: ArraySlice<RowUpdate>, on c: MySQLConnection) throws {
        let held = updates.filter { !$0.detached }
        if !held.isEmpty {
            let select =
                "SELECT ? AS id, ? AS token, ? AS status, ? AS next_run, ? AS fire_at, ? AS attempt, ? AS error, ? AS schedule, ? AS timezone, ? AS claimed_next, ? AS duration"
            let more = "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
            let derived = ([select] + Array(repeating: more, count: held.count - 1)).joined(separator: " UNION ALL ")
            // The row was edited while it ran if its schedule, zone or next_run changed: then the
            // edit wins (a changed schedule gets its next_run recomputed); a paused row stays paused.
            let sql = """
                UPDATE cron c JOIN (\(derived)) v ON c.id = v.id AND c.task_id = v.token SET \
                c.next_run = IF(c.next_run <=> v.claimed_next, IF(c.schedule <=> v.schedule AND c.timezone = v.timezone, v.next_run, NULL), c.next_run), \
                c.fire_at = IF(c.next_run <=> v.claimed_next AND c.schedule <=> v.schedule AND c.timezone = v.timezone, v.fire_at, NULL), \
                c.attempt = IF(c.next_run <=> v.claimed_next AND c.schedule <=> v.schedule AND c.timezone = v.timezone, v.attempt, 0), \
                c.status = IF(c.status = 'active' AND (v.status <> 'done' OR c.schedule <=> v.schedule), v.status, c.status), \
                c.error = v.error, c.last_duration = COALESCE(v.duration, c.last_duration), \
                c.task_id = NULL, c.claimed_by = NULL, c.claimed_at = NULL
                """
            var values: [MySQLValue] = []
            values.reserveCapacity(held.count * 11)
            for u in held {
                values += [
                    .int(u.taskID), .int(u.token), .string(u.plan.status.rawValue), .init(u.plan.nextRun),
                    .init(u.plan.fireAt),
                    .int(Int64(u.plan.attempt)), .init(u.plan.error), .init(u.claimedSchedule),
                    .string(u.claimedTimezone),
                    .init(u.claimedNextRun), .init(u.duration),
                ]
            }
            let result = try c.execute(sql, values)
            if result.affectedRows < held.count {
                store.logger.debug(
                    "some results were fenced out (rows deleted or reclaimed meanwhile)",
                    metadata: ["written": "\(result.affectedRows)", "batch": "\(held.count)"])
            }
        }
        for u in updates where u.detached {
            try c.execute(
                "UPDATE cron SET running = GREATEST(running, 1) - 1, error = ? WHERE id = ?",
                [.init(u.plan.error), .int(u.taskID)])
        }
    }
}

/// Identifies one attempt: the unique key of `cron_run`.
public struct RunKey: Hashable, Sendable {
    public var task: Int64
    public var scheduled: Date
    public var attempt: Int

    public init(task: Int64, scheduled: Date, attempt: Int) {
        (self.task, self.scheduled, self.attempt) = (task, scheduled, attempt)
    }

    init(_ run: RunRecord) { (task, scheduled, attempt) = (run.taskID, run.scheduledFor, run.attempt) }
}

extension Array {
    /// Slices of `limit` (a power of two) elements, then of the powers of two below it that make
    /// up the rest: 100 → 64, 32, 4. A multi-row statement is prepared once per size, so seven
    /// sizes keep the connections' statement caches warm where sixty-four would churn them.
    func chunkedInPowersOfTwo(upTo limit: Int) -> [ArraySlice<Element>] {
        var slices: [ArraySlice<Element>] = []
        var start = 0
        var size = limit
        while start < count {
            while size > count - start { size /= 2 }
            slices.append(self[start..<start + size])
            start += size
        }
        return slices
    }
}
