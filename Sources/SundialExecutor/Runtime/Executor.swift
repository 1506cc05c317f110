import Foundation
import Logging
import SundialMySQL
import SundialSchedule

/// Claims due rows and runs them: the leader/follower pool, the idle queue, the heartbeat
/// redispatcher, leases and recovery, and the run history.
///
/// A task's path: the pool's leader claims a batch (`TaskStore.claim`), keeps rows that are not
/// due yet in the idle queue and hands due ones to pool threads; a thread runs the handler
/// (`execute`), the planner decides the row's next state, and the recorder writes the run and the
/// row in the next group commit. The heartbeat thread renews the lease, enforces timeouts and kill
/// requests, gives back work it cannot start in time, recovers dead executors' rows, and fences
/// this executor off when it cannot reach the database.
///
/// Everything here runs on threads the executor owns; nothing blocks Swift's cooperative pool.
public final class Executor: @unchecked Sendable {
    public let identity: ExecutorIdentity
    public let store: TaskStore
    public let definitions: TaskDefinitions
    let liveness: LivenessPipes
    let recorder: RunRecorder
    let clock = DatabaseClock()
    let logger: Logger

    private let state = NSCondition()
    private var configuration: ExecutorConfiguration
    private var idle = IdleQueue()
    private var capacity = ClaimCapacity()
    private var running: [RunKey: RunningRun] = [:]
    private var stopping = false
    /// Rows claimed but dropped while fenced off, to give back once the database answers.
    private var unreleased: [(id: Int64, token: Int64)] = []
    private var fenced = false
    private var nextPoll = ContinuousClock.now
    private var lastHeartbeat = ContinuousClock.now
    /// The leader sleeps because every thread is busy and nothing more may be claimed: a run
    /// that ends must wake it. Otherwise ending runs wake nobody.
    private var leaderWaitsForThreads = false
    /// The heartbeat and watchdog threads sleep on their own condition, so that the leader's
    /// wake-ups do not wake them.
    private let timers = NSCondition()
    private var heartbeatStopped = false
    private var pool: LeaderFollowerPool<WorkItem>!

    /// Shell commands may run until 95 % of the lease (the last 5 % is for the kill to land), with
    /// SIGTERM to SIGKILL taking 15 % of it (5 s at most) when they must end: the self-fence at 70 %
    /// kills by 85 %; a silent executor's supervisors send SIGTERM at 80 % and SIGKILL at 95 %.
    private func tellSupervisorsTheLease(renewedAt: ContinuousClock.Instant, _ settings: ExecutorConfiguration) {
        liveness.leaseRenewed(
            validUntil: renewedAt + settings.lease * 0.95, fenceGrace: min(5, settings.lease.timeInterval * 0.15))
    }

    /// How long an at_most_once run waits for its start to be written before it gives up the fire.
    static let durableStartTimeout: TimeInterval = 5

    struct RunningRun {
        var context: RunContext
        var deadline: ContinuousClock.Instant?
    }

    public init(
        database: Database, configuration: ExecutorConfiguration, handlers: HandlerRegistry, liveness: LivenessPipes,
        logger: Logger
    ) {
        self.configuration = configuration
        self.identity = ExecutorIdentity(
            name: configuration.name, threads: configuration.threads, tags: configuration.tags)
        self.store = TaskStore(database: database, logger: logger)
        self.definitions = TaskDefinitions(handlers: handlers)
        self.liveness = liveness
        self.recorder = RunRecorder(store: store)
        var logger = logger
        logger[metadataKey: "executor"] = "\(identity.id)"
        self.logger = logger
        self.pool = LeaderFollowerPool(
            threads: configuration.threads, name: "sundial-worker",
            lead: { [unowned self] lead in self.lead(lead) },
            execute: { [unowned self] item in self.execute(item) })
    }

    // MARK: Lifecycle

    /// Registers in `cron_executor` and starts the threads.
    public func start() throws {
        try store.database.prewarm()
        try store.register(executor: identity)
        lastHeartbeat = .now
        tellSupervisorsTheLease(renewedAt: lastHeartbeat, configuration)
        recorder.start()
        pool.start()
        every({ [unowned self] in self.currentSettings.heartbeatInterval }, name: "sundial-heartbeat") {
            [unowned self] in
            self.heartbeat()
        }
        every({ .milliseconds(100) }, name: "sundial-watchdog") { [unowned self] in self.watchdog() }
        logger.info(
            "executor started",
            metadata: ["threads": "\(configuration.threads)", "tags": "\(configuration.tags.joined(separator: ","))"])
    }

    /// Stops claiming, gives unstarted work back at once, lets running tasks finish within the
    /// grace period, kills the rest (recorded, and run again under `at_least_once`), writes
    /// everything and marks the executor stopped. Blocks until done.
    public func stop() {
        state.lock()
        if stopping {
            state.unlock()
            return
        }
        stopping = true
        let grace = configuration.shutdownGrace
        let unstarted = idle.removeAll()
        state.broadcast()
        state.unlock()
        pool.stop()
        let given = unstarted + pool.drainReady()
        do {
            try store.markExecutor(identity.id, state: "stopping")
            try store.release(given.filter { !$0.isDetached }.map { ($0.row.id, $0.token) })
        } catch {
            logger.error(
                "could not give work back on shutdown; it is reclaimed after the lease", metadata: ["error": "\(error)"]
            )
        }
        logger.info("stopping", metadata: ["given back": "\(given.count)", "running": "\(runningCount)"])
        if !pool.join(timeout: grace.timeInterval) {
            logger.warning("grace period over; killing the runs still going", metadata: ["running": "\(runningCount)"])
            cancelAll(.executorStopping)
            _ = pool.join(timeout: 60)
        }
        recorder.stop()
        timers.lock()
        heartbeatStopped = true
        timers.broadcast()
        timers.unlock()
        do {
            try store.markExecutor(identity.id, state: "stopped")
        } catch {
            logger.error("could not mark the executor stopped", metadata: ["error": "\(error)"])
        }
        logger.info("executor stopped")
    }

    /// Applies new settings without dropping running tasks. The thread count is fixed at start.
    public func reload(_ new: ExecutorConfiguration) {
        state.lock()
        var applied = new
        applied.threads = configuration.threads
        applied.name = configuration.name
        configuration = applied
        state.broadcast()
        state.unlock()
        if new.threads != applied.threads {
            logger.notice("the thread count changes only on restart", metadata: ["threads": "\(applied.threads)"])
        }
        logger.info("settings reloaded")
    }

    public var runningCount: Int {
        state.lock()
        defer { state.unlock() }
        return running.count
    }

    // MARK: Leading

    private func lead(_ lead: LeaderFollowerPool<WorkItem>.Lead) -> [WorkItem] {
        state.lock()
        defer { state.unlock() }
        while !stopping {
            let now = ContinuousClock.now
            // Everything due goes to the ready queue at once: threads take it from there without
            // waiting for the next leader, and the heartbeat gives back what waits too long.
            let due = idle.popDue(now, limit: .max)
            if !due.isEmpty { return due }
            let pending = idle.count + lead.readyCount
            let limit =
                fenced
                ? 0
                : capacity.limit(
                    batch: configuration.batch, idleThreads: lead.idleThreads,
                    allowance: configuration.queueAllowance, pending: pending, held: idle.held)
            let mayClaim = capacity.mayClaim(untilDue: idle.earliest.map { ($0 - now).timeInterval })
            if now >= nextPoll && limit > 0 && mayClaim {
                let settings = configuration
                state.unlock()
                let began = ContinuousClock.now
                let claimed = claim(limit: limit, settings: settings)
                state.lock()
                capacity.observeClaim(seconds: (ContinuousClock.now - began).timeInterval)
                switch claimed {
                case .claimed(let items):
                    // A full batch means more may be waiting: ask again at once.
                    nextPoll = items.count == limit ? .now : .now + settings.pollInterval
                    var ready: [WorkItem] = []
                    for item in items {
                        if item.due <= .now { ready.append(item) } else { idle.insert(item) }
                    }
                    if !ready.isEmpty { return ready }
                case .conflict:
                    // Another executor's claim or a group commit held the rows: try again soon,
                    // not a poll interval later, or fires due now start late.
                    nextPoll = .now + .microseconds(Int64.random(in: 500...5_000))
                case .failed:
                    nextPoll = .now + settings.pollInterval
                }
                continue
            }
            var wake = limit > 0 && mayClaim ? nextPoll : now + configuration.pollInterval
            if let earliest = idle.earliest, earliest < wake { wake = earliest }
            leaderWaitsForThreads = limit == 0
            _ = state.wait(until: Date().addingTimeInterval((wake - .now).timeInterval))
            leaderWaitsForThreads = false
        }
        return []
    }

    private enum ClaimResult {
        case claimed([WorkItem])
        /// A deadlock or lock-wait timeout with another writer: nothing was claimed.
        case conflict
        case failed
    }

    private func claim(limit: Int, settings: ExecutorConfiguration) -> ClaimResult {
        let result: TaskStore.Claim?
        do {
            result = try store.claim(
                executor: identity.id, tags: settings.tags, limit: limit, lookahead: settings.lookahead)
        } catch let error as MySQLError where error.isTransactionConflict {
            logger.debug("claim conflicted with another writer; retrying", metadata: ["error": "\(error)"])
            return .conflict
        } catch {
            logger.warning("claim failed", metadata: ["error": "\(error)"])
            return .failed
        }
        guard let claim = result else { return .claimed([]) }
        observe(claim.clockReading)
        let answered = claim.clockReading.received
        return .claimed(
            claim.rows.map { row in
                let fireAt = row.fireAt ?? row.nextRun ?? claim.databaseNow
                // When the database's clock reaches next_run, on this process's clock: never early.
                let due = row.nextRun.flatMap { clock.instant(whenDatabaseReaches: $0) } ?? answered
                return WorkItem(
                    row: row, token: claim.token, definition: definitions.definition(for: row), due: due,
                    fireAt: fireAt, attempt: row.attempt, isDetached: false)
            })
    }

    // MARK: Running

    private func execute(_ item: WorkItem) {
        let began = ContinuousClock.now
        let definition: TaskDefinition
        switch item.definition {
        case .failure(let invalid):
            logger.warning("invalid task", metadata: ["task": "\(item.row.name)", "error": "\(invalid.message)"])
            do {
                try store.markInvalid(id: item.row.id, token: item.token, error: invalid.message)
            } catch {
                logger.error(
                    "could not mark a task invalid", metadata: ["task": "\(item.row.name)", "error": "\(error)"])
            }
            return
        case .success(let found):
            definition = found
        }
        state.lock()
        if fenced {
            // Fenced off before it started: not run, no history; the row goes back to the table
            // once the database answers again.
            if !item.isDetached { unreleased.append((item.row.id, item.token)) }
            state.unlock()
            return
        }
        state.unlock()
        let planner = FirePlanner(row: item.row, schedule: definition.schedule)
        let detached = item.isDetached || (item.row.maxConcurrency > 1 && definition.schedule?.isRecurring == true)
        if detached && !item.isDetached {
            // Free the row for the next fire while this one runs.
            do {
                guard
                    try store.detach(
                        id: item.row.id, token: item.token, next: planner.moveOn(after: item.fireAt, now: clock.now))
                else { return }
            } catch {
                logger.error(
                    "could not start a concurrent run", metadata: ["task": "\(item.row.name)", "error": "\(error)"])
                return
            }
        }

        let key = RunKey(task: item.row.id, scheduled: item.fireAt, attempt: item.attempt)
        var record = RunRecord(
            taskID: item.row.id, token: item.token, scheduledFor: item.fireAt, attempt: item.attempt,
            executor: identity.id, startedAt: clock.now, finishedAt: nil, status: "running")
        // An at_most_once run starts only once its start is on record: an executor that dies
        // mid-run must leave a `running` row for recovery to mark lost, or the fire would run again.
        let atMostOnce = item.row.delivery == .atMostOnce
        let startRecorded = recorder.runStarted(record, durable: atMostOnce, timeout: Self.durableStartTimeout)
        let context = RunContext(
            taskID: item.row.id, taskName: item.row.name, payload: definition.payload, prepared: definition.prepared,
            scheduledFor: item.fireAt,
            attempt: item.attempt, timeout: item.row.timeoutSeconds)
        state.lock()
        running[key] = RunningRun(
            context: context,
            deadline: item.row.timeoutSeconds.map { .now + .milliseconds(Int64($0 * 1000)) })
        let alreadyStopping = fenced
        state.unlock()
        if alreadyStopping || !startRecorded { context.cancel(.executorStopping) }

        var outcome: FirePlanner.Outcome
        var interruption: String? =
            startRecorded
            ? nil : "not run: its start could not be recorded within \(Self.durableStartTimeout) s (at_most_once)"
        do {
            // Not started at all when stopped before its start: the interruption is recorded below.
            guard !context.isCancelled else { throw RunKilled(output: nil) }
            let output = try definition.handler.run(context)
            (record.exitCode, record.output) = (output.exitCode, output.output)
            outcome = .succeeded
        } catch let failure as RunFailure {
            (record.exitCode, record.output) = (failure.exitCode, failure.output)
            outcome = .failed(failure.message)
        } catch let timedOut as RunTimedOut {
            record.output = timedOut.output
            outcome = .timedOut
        } catch let killed as RunKilled {
            record.output = killed.output
            outcome = .killed
        } catch let interrupted as RunInterrupted {
            record.output = interrupted.output
            interruption = interrupted.message
            outcome = .failed(interrupted.message)
        } catch {
            outcome = .failed("\(error)")
        }
        switch context.cancelReason {
        case .timedOut? where outcome != .succeeded: outcome = .timedOut
        case .killRequested? where outcome != .succeeded: outcome = .killed
        default: break
        }

        let took = ContinuousClock.now - began
        state.lock()
        running[key] = nil
        capacity.observeRun(seconds: took.timeInterval)
        if leaderWaitsForThreads { state.broadcast() }
        state.unlock()

        let now = clock.now
        record.finishedAt = now
        var plan: FirePlanner.Plan
        let interrupted =
            outcome != .succeeded && (interruption != nil || context.cancelReason == .executorStopping)
        if interrupted {
            let reason = interruption ?? "the executor stopped during the run"
            record.status = "killed"
            record.error = reason
            plan = planner.afterInterruption(fireAt: item.fireAt, attempt: item.attempt, now: now, reason: reason)
        } else {
            plan = planner.afterRun(
                fireAt: item.fireAt, attempt: item.attempt, outcome: outcome, now: now, jitter: Double.random(in: 0...1)
            )
            switch outcome {
            case .succeeded: record.status = "succeeded"
            case .failed(let message): (record.status, record.error) = ("failed", message)
            case .timedOut: (record.status, record.error) = ("timed_out", plan.error)
            case .killed: (record.status, record.error) = ("killed", plan.error)
            }
        }
        if detached && plan.attempt > item.attempt && plan.fireAt == item.fireAt && plan.status == .active {
            // A concurrent run retries here: the row has already moved on.
            let retry = item.retry(
                attempt: plan.attempt, due: plan.nextRun.flatMap { clock.instant(whenDatabaseReaches: $0) } ?? .now)
            state.lock()
            if !stopping { idle.insert(retry) }
            state.broadcast()
            state.unlock()
        }
        recorder.runFinished(
            record,
            update: RowUpdate(
                taskID: item.row.id, token: item.token, plan: plan, claimedSchedule: item.row.schedule,
                claimedTimezone: item.row.timezone, claimedNextRun: item.row.nextRun, detached: detached,
                duration: interrupted ? nil : took.timeInterval))
    }

    private func observe(_ reading: TaskStore.ClockReading) {
        clock.observe(
            databaseNow: reading.databaseNow, sent: reading.sent, received: reading.received,
            wallSent: reading.wallSent, wallReceived: reading.wallReceived)
    }

    private func cancelAll(_ reason: RunContext.CancelReason) {
        state.lock()
        let contexts = running.values.map(\.context)
        state.unlock()
        contexts.forEach { $0.cancel(reason) }
    }

    // MARK: Heartbeat redispatcher

    /// Runs `body` every `interval` on a thread of its own until the executor has stopped.
    private func every(
        _ interval: @escaping @Sendable () -> Duration, name: String, _ body: @escaping @Sendable () -> Void
    ) {
        let thread = Thread { [self] in
            while true {
                // Read the interval before taking the lock: it takes the lock itself.
                let deadline = Date().addingTimeInterval(interval().timeInterval)
                timers.lock()
                while !heartbeatStopped && Date() < deadline { _ = timers.wait(until: deadline) }
                let done = heartbeatStopped
                timers.unlock()
                if done { return }
                body()
            }
        }
        thread.name = name
        thread.start()
    }

    /// The database half of the heartbeat: renew the lease, then act on kill requests, give back
    /// work that waits too long, take over dead executors' work, schedule new rows. Any of it may
    /// block on a sick database; the watchdog does not wait for it.
    func heartbeat() {
        let sentMonotonic = ContinuousClock.now
        do {
            let (alive, reading) = try store.heartbeat(executor: identity.id, busy: runningCount)
            observe(reading)
            guard alive else {
                declaredDead()
                return
            }
            state.lock()
            let toRelease = unreleased
            state.unlock()
            if !toRelease.isEmpty {
                // Before claiming again: rows dropped while fenced would stay claimed for good.
                try store.release(toRelease)
                logger.notice("gave back the work dropped while fenced", metadata: ["rows": "\(toRelease.count)"])
            }
            state.lock()
            unreleased.removeFirst(min(toRelease.count, unreleased.count))
            lastHeartbeat = max(lastHeartbeat, sentMonotonic)
            tellSupervisorsTheLease(renewedAt: lastHeartbeat, configuration)
            let wasFenced = fenced
            // A renewal counts from when it was sent: one that was stuck for most of the lease
            // (a lock, a stalled database) does not lift the fence, or the watchdog would fence
            // again at once and kill what had just started. The next, quick one does.
            if ContinuousClock.now - lastHeartbeat < configuration.selfFenceAfter { fenced = false }
            let resumed = wasFenced && !fenced
            state.broadcast()
            state.unlock()
            if resumed { logger.notice("database reachable again; claiming resumes") }
        } catch {
            logger.warning("heartbeat failed", metadata: ["error": "\(error)"])
            return
        }
        guard !isStopping else { return }
        do {
            let kills = try store.killRequests(executor: identity.id)
            if !kills.isEmpty {
                state.lock()
                let contexts = kills.compactMap { running[$0]?.context }
                state.unlock()
                contexts.forEach { $0.cancel(.killRequested) }
            }
            let settings = currentSettings
            releaseOverdue(settings)
            _ = try store.recoverDeadExecutors(lease: settings.lease, definitions: definitions)
            _ = try store.scheduleNewRows(definitions: definitions)
        } catch {
            logger.warning("heartbeat work failed", metadata: ["error": "\(error)"])
        }
    }

    /// The local half, on its own thread and never blocked by the database: fence this executor
    /// off when the lease has not been renewed for most of its length, keep the shell supervisors
    /// informed while it is healthy, and enforce timeouts.
    func watchdog() {
        state.lock()
        let settings = configuration
        let silentFor = ContinuousClock.now - lastHeartbeat
        let shouldFence = !fenced && silentFor >= settings.selfFenceAfter
        if shouldFence { fenced = true }
        let healthy = !fenced
        let now = ContinuousClock.now
        let expired = running.values.filter { $0.deadline.map { $0 <= now } ?? false }.map(\.context)
        state.unlock()

        if shouldFence {
            logger.error(
                "no heartbeat for most of the lease: killing running tasks and stopping claims before another executor takes them over",
                metadata: ["silent for": "\(silentFor)"])
            cancelAll(.executorStopping)
            let dropped = pool.drainReady()
            state.lock()
            // Still claimed by this executor: given back as soon as the database answers again.
            unreleased += (idle.removeAll() + dropped).filter { !$0.isDetached }.map { ($0.row.id, $0.token) }
            state.unlock()
        }
        // Each ping carries the lease left; supervisors end their commands before it runs out.
        if healthy { liveness.pingAll() }
        expired.forEach { $0.cancel(.timedOut) }
    }

    private var isStopping: Bool {
        state.lock()
        defer { state.unlock() }
        return stopping
    }

    private var currentSettings: ExecutorConfiguration {
        state.lock()
        defer { state.unlock() }
        return configuration
    }

    /// Due work that has waited longer than `releaseAfter` for a thread goes back to the table.
    private func releaseOverdue(_ settings: ExecutorConfiguration) {
        let waiting = pool.drainReady()
        guard !waiting.isEmpty else { return }
        let cutoff = ContinuousClock.now - settings.releaseAfter
        let overdue = waiting.filter { $0.due < cutoff && !$0.isDetached }
        let keep = waiting.filter { !($0.due < cutoff && !$0.isDetached) }
        pool.submit(keep)
        guard !overdue.isEmpty else { return }
        do {
            try store.release(overdue.map { ($0.row.id, $0.token) })
            logger.info("gave back work no thread could start in time", metadata: ["rows": "\(overdue.count)"])
        } catch {
            pool.submit(overdue)
        }
    }

    /// Another executor found this one's lease expired and took its work: everything in hand is
    /// fenced out. Stop it all and start over with a fresh registration.
    private func declaredDead() {
        logger.error("this executor was declared dead (its lease expired); abandoning its work and registering again")
        cancelAll(.executorStopping)
        state.lock()
        _ = idle.removeAll()
        unreleased.removeAll()
        state.unlock()
        _ = pool.drainReady()
        state.lock()
        let shuttingDown = stopping
        state.unlock()
        guard !shuttingDown else { return }
        do {
            try store.register(executor: identity)
        } catch {
            logger.error("could not register again", metadata: ["error": "\(error)"])
        }
    }
}
