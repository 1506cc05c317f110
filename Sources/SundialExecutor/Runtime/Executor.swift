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
    private var running: [RunKey: RunningRun] = [:]
    private var stopping = false
    private var fenced = false
    private var nextPoll = ContinuousClock.now
    private var lastHeartbeat = ContinuousClock.now
    private var heartbeatStopped = false
    private var pool: LeaderFollowerPool<WorkItem>!

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
        state.lock()
        heartbeatStopped = true
        state.broadcast()
        state.unlock()
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
            let due = idle.popDue(now, limit: max(1, lead.idleThreads))
            if !due.isEmpty { return due }
            let pending = idle.count + lead.readyCount
            let capacity =
                fenced ? 0 : min(configuration.batch, lead.idleThreads + configuration.queueAllowance - pending)
            if now >= nextPoll && capacity > 0 {
                let settings = configuration
                state.unlock()
                let claimed = claim(limit: capacity, settings: settings)
                state.lock()
                // A full batch means more may be waiting: ask again at once.
                nextPoll = claimed.count == capacity ? .now : .now + settings.pollInterval
                var ready: [WorkItem] = []
                for item in claimed {
                    if item.due <= .now { ready.append(item) } else { idle.insert(item) }
                }
                if !ready.isEmpty { return ready }
                continue
            }
            var wake = capacity > 0 ? nextPoll : now + configuration.pollInterval
            if let earliest = idle.earliest, earliest < wake { wake = earliest }
            _ = state.wait(until: Date().addingTimeInterval((wake - .now).timeInterval))
        }
        return []
    }

    private func claim(limit: Int, settings: ExecutorConfiguration) -> [WorkItem] {
        let sent = Date()
        let sentMonotonic = ContinuousClock.now
        let result: TaskStore.Claim?
        do {
            result = try store.claim(
                executor: identity.id, tags: settings.tags, limit: limit, lookahead: settings.lookahead)
        } catch {
            logger.warning("claim failed", metadata: ["error": "\(error)"])
            return []
        }
        guard let claim = result else { return [] }
        clock.observe(databaseNow: claim.databaseNow, sent: sent, received: Date())
        return claim.rows.map { row in
            let fireAt = row.fireAt ?? row.nextRun ?? claim.databaseNow
            let wait = (row.nextRun ?? claim.databaseNow).timeIntervalSince(claim.databaseNow)
            return WorkItem(
                row: row, token: claim.token, definition: definitions.definition(for: row),
                due: sentMonotonic + .milliseconds(Int64(max(0, wait) * 1000)), fireAt: fireAt, attempt: row.attempt,
                isDetached: false)
        }
    }

    // MARK: Running

    private func execute(_ item: WorkItem) {
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
        recorder.runStarted(record)
        let context = RunContext(
            taskID: item.row.id, taskName: item.row.name, payload: definition.payload, scheduledFor: item.fireAt,
            attempt: item.attempt, timeout: item.row.timeoutSeconds)
        state.lock()
        running[key] = RunningRun(
            context: context,
            deadline: item.row.timeoutSeconds.map { .now + .milliseconds(Int64($0 * 1000)) })
        let alreadyStopping = fenced
        state.unlock()
        if alreadyStopping { context.cancel(.executorStopping) }

        var outcome: FirePlanner.Outcome
        do {
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
        } catch {
            outcome = .failed("\(error)")
        }
        switch context.cancelReason {
        case .timedOut? where outcome != .succeeded: outcome = .timedOut
        case .killRequested? where outcome != .succeeded: outcome = .killed
        default: break
        }

        state.lock()
        running[key] = nil
        state.broadcast()
        state.unlock()

        let now = clock.now
        record.finishedAt = now
        var plan: FirePlanner.Plan
        if context.cancelReason == .executorStopping && outcome != .succeeded {
            record.status = "killed"
            record.error = "the executor stopped during the run"
            plan = planner.afterInterruption(
                fireAt: item.fireAt, attempt: item.attempt, now: now, reason: "the executor stopped during the run")
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
            var retry = item
            retry.isDetached = true
            retry.attempt = plan.attempt
            retry.due = .now + .milliseconds(Int64(max(0, (plan.nextRun ?? now).timeIntervalSince(now)) * 1000))
            state.lock()
            if !stopping { idle.insert(retry) }
            state.broadcast()
            state.unlock()
        }
        recorder.runFinished(
            record,
            update: RowUpdate(
                taskID: item.row.id, token: item.token, plan: plan, claimedSchedule: item.row.schedule,
                claimedTimezone: item.row.timezone, claimedNextRun: item.row.nextRun, detached: detached))
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
                state.lock()
                while !heartbeatStopped && Date() < deadline { _ = state.wait(until: deadline) }
                let done = heartbeatStopped
                state.unlock()
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
        let sent = Date()
        do {
            let (alive, databaseNow) = try store.heartbeat(executor: identity.id, busy: runningCount)
            clock.observe(databaseNow: databaseNow, sent: sent, received: Date())
            guard alive else {
                declaredDead()
                return
            }
            state.lock()
            lastHeartbeat = max(lastHeartbeat, sentMonotonic)
            let wasFenced = fenced
            fenced = false
            state.broadcast()
            state.unlock()
            if wasFenced { logger.notice("database reachable again; claiming resumes") }
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
        let healthy = !fenced && silentFor < settings.lease / 2
        let now = ContinuousClock.now
        let expired = running.values.filter { $0.deadline.map { $0 <= now } ?? false }.map(\.context)
        state.unlock()

        if shouldFence {
            logger.error(
                "no heartbeat for most of the lease: killing running tasks and stopping claims before another executor takes them over",
                metadata: ["silent for": "\(silentFor)"])
            cancelAll(.executorStopping)
            state.lock()
            _ = idle.removeAll()
            state.unlock()
            _ = pool.drainReady()
        }
        // Supervisors kill their commands when these pings stop: only a healthy executor sends them.
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
