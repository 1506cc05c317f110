import Foundation
import Logging
import SundialActions
import SundialCore
import SundialSchedule

/// Claims due rows and runs them: the leader/follower pool, the idle queue, the heartbeat
/// redispatcher, leases and recovery, and the run history, over any `SundialStore`.
///
/// A task's path: the pool's leader claims a batch (`ClaimStore.claim`), keeps rows that are not
/// due yet in the idle queue and hands due ones to pool threads; a thread runs the handler
/// (`execute`), the planner decides the row's next state, and the recorder writes the run and the
/// row in the next group commit (`ClaimStore.record`).
///
/// Four threads of its own besides the pool: the lease thread only renews the lease (nothing
/// else may delay it); the housekeeping thread acts on kill requests, gives back work it cannot
/// start in time, recovers the work of executors whose lease ended, schedules new rows and prunes
/// history; the watchdog fences this executor off when its lease is about to end unrenewed; the
/// recorder writes results. Nothing blocks Swift's cooperative pool.
public final class Executor: @unchecked Sendable {
    public let identity: ExecutorIdentity
    public let store: any SundialStore
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
    /// Claims to give back once the store answers: work dropped while fenced, releases that
    /// failed, and claims whose outcome is unknown. Released by token, so repeating is harmless.
    private var unreleased: [ClaimToken: Set<Int64>?] = [:]
    private var fenced = false
    private var nextPoll = ContinuousClock.now
    private var lastRenewal = ContinuousClock.now
    private var lastRetention: ContinuousClock.Instant?
    /// The leader sleeps because every thread is busy and nothing more may be claimed: a run
    /// that ends must wake it. Otherwise ending runs wake nobody.
    private var leaderWaitsForThreads = false
    /// The timer threads sleep on their own condition, so that the leader's wake-ups do not wake them.
    private let timers = NSCondition()
    private var timersStopped = false
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
    /// How often history is pruned.
    static let retentionInterval: Duration = .seconds(60)

    struct RunningRun {
        var context: RunContext
        var deadline: ContinuousClock.Instant?
    }

    public init(
        store: any SundialStore, configuration: ExecutorConfiguration, handlers: HandlerRegistry,
        liveness: LivenessPipes, logger: Logger
    ) {
        self.configuration = configuration
        self.identity = ExecutorIdentity(
            name: configuration.name, threads: configuration.threads, tags: configuration.tags)
        self.store = store
        self.definitions = TaskDefinitions(handlers: handlers)
        self.liveness = liveness
        var logger = logger
        logger[metadataKey: "executor"] = "\(identity.id)"
        self.logger = logger
        self.recorder = RunRecorder(store: store, logger: logger)
        self.pool = LeaderFollowerPool(
            threads: configuration.threads, name: "sundial-worker",
            lead: { [unowned self] lead in self.lead(lead) },
            execute: { [unowned self] item in self.execute(item) })
    }

    // MARK: Lifecycle

    /// Registers in the executor registry and starts the threads.
    public func start() throws(StoreError) {
        let settings = currentSettings
        _ = try store.register(registration, lease: settings.lease)
        lastRenewal = .now
        tellSupervisorsTheLease(renewedAt: lastRenewal, settings)
        recorder.start()
        pool.start()
        every({ [unowned self] in self.currentSettings.heartbeatInterval }, name: "sundial-lease") {
            [unowned self] in self.renewLease()
        }
        every({ [unowned self] in self.currentSettings.heartbeatInterval }, name: "sundial-housekeeping") {
            [unowned self] in self.housekeeping()
        }
        every({ .milliseconds(100) }, name: "sundial-watchdog") { [unowned self] in self.watchdog() }
        logger.info(
            "executor started",
            metadata: ["threads": "\(settings.threads)", "tags": "\(settings.tags.joined(separator: ","))"])
    }

    private var registration: ExecutorRegistration {
        ExecutorRegistration(
            id: identity.id, host: identity.host, pid: identity.pid, threads: identity.threads, tags: identity.tags,
            actions: definitions.handlers.actions)
    }

    /// Stops claiming, gives unstarted work back at once, lets running tasks finish within the
    /// grace period, kills the rest (run again under `at_least_once`), writes everything, then
    /// frees whatever it still holds and marks itself stopped. Blocks until done; leaves nothing
    /// claimed when the store answers (and its lease ends either way, so others recover the rest).
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
            try store.setState(executor: identity.id, .stopping)
        } catch {
            logger.warning("could not mark the executor stopping", metadata: ["error": "\(error)"])
        }
        giveBack(given)
        logger.info("stopping", metadata: ["given back": "\(given.count)", "running": "\(runningCount)"])
        if !pool.join(timeout: grace.timeInterval) {
            logger.warning("grace period over; killing the runs still going", metadata: ["running": "\(runningCount)"])
            cancelAll(.executorStopping)
            _ = pool.join(timeout: 60)
        }
        recorder.stop()
        timers.lock()
        timersStopped = true
        timers.broadcast()
        timers.unlock()
        // Whatever is still claimed now (a claim that was in flight, a release that failed, a
        // result that could not be written) is freed the way recovery frees a dead executor's.
        do {
            let report = try store.recover(
                executor: identity.id, reason: "the executor stopped", self: true, plan: interruptionPlan)
            if report.freedRows > 0 || report.lostRuns > 0 {
                logger.notice(
                    "freed work still held at stop",
                    metadata: ["rows": "\(report.freedRows)", "runs": "\(report.lostRuns)"])
            }
        } catch {
            logger.error(
                "could not free the work still held; others recover it now that the lease has ended",
                metadata: ["error": "\(error)"])
            try? store.setState(executor: identity.id, .stopped)
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
            // waiting for the next leader, and housekeeping gives back what waits too long.
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
                    if stopping || fenced {
                        // Stopped or fenced while the claim was in flight: give it all back.
                        state.unlock()
                        giveBack(items)
                        state.lock()
                        return []
                    }
                    // A full batch means more may be waiting: ask again at once.
                    nextPoll = items.count == limit ? .now : .now + settings.pollInterval
                    var ready: [WorkItem] = []
                    for item in items {
                        if item.due <= .now { ready.append(item) } else { idle.insert(item) }
                    }
                    if !ready.isEmpty { return ready }
                case .conflict:
                    // Another writer held the rows: try again soon, not a poll interval later,
                    // or fires due now start late.
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
        // The token is chosen before the claim, so that a claim whose outcome is unknown can be
        // released by it.
        let request = ClaimRequest(
            token: .random(), executor: identity.id, actions: definitions.handlers.actions, tags: settings.tags,
            limit: limit, lookahead: settings.lookahead)
        let batch: ClaimedBatch
        do {
            batch = try store.claim(request)
        } catch {
            switch error.kind {
            case .conflict:
                logger.debug("claim conflicted with another writer; retrying", metadata: ["error": "\(error)"])
                return .conflict
            case .outcomeUnknown:
                logger.warning("claim outcome unknown; its rows are given back", metadata: ["error": "\(error)"])
                keepForRelease(request.token, ids: nil)
            default:
                logger.warning("claim failed", metadata: ["error": "\(error)"])
            }
            return .failed
        }
        guard !batch.rows.isEmpty else { return .claimed([]) }
        // Read apart from the rows: a reading's round trip bounds how precisely fires start.
        let answered: ContinuousClock.Instant
        let databaseNow: Date
        do {
            (answered, databaseNow) = try readClock()
        } catch {
            // Without the database's time nothing can start on time: give the rows back.
            logger.warning("could not read the database's clock after a claim", metadata: ["error": "\(error)"])
            giveBack(batch.claims)
            return .failed
        }
        return .claimed(
            batch.rows.map { row in
                let fireAt = row.fireAt ?? row.nextRun ?? databaseNow
                // When the database's clock reaches next_run, on this process's clock: never early.
                let due = row.nextRun.flatMap { clock.instant(whenDatabaseReaches: $0) } ?? answered
                return WorkItem(
                    row: row, token: batch.token, definition: definitions.definition(for: row), due: due,
                    fireAt: fireAt, attempt: row.attempt, isDetached: false)
            })
    }

    /// Reads the store's clock and remembers the reading; returns when the answer arrived and the
    /// time read (exact to the store's precision: a fire time taken from it is stored unchanged).
    private func readClock() throws(StoreError) -> (ContinuousClock.Instant, Date) {
        let wallSent = Date()
        let sent = ContinuousClock.now
        let now = try store.now()
        let received = ContinuousClock.now
        clock.observe(databaseNow: now, sent: sent, received: received, wallSent: wallSent, wallReceived: Date())
        return (received, now)
    }

    // MARK: Giving work back

    /// Frees claimed, unstarted work in the store; what cannot be freed now is kept and freed by
    /// housekeeping (by token: never resubmitted, since a release whose outcome is unknown may
    /// have freed the row for someone else already).
    private func giveBack(_ items: [WorkItem]) {
        giveBack(items.filter { !$0.isDetached }.map(\.claim))
    }

    private func giveBack(_ claims: [Claim]) {
        guard !claims.isEmpty else { return }
        for (token, group) in Dictionary(grouping: claims, by: \.token) {
            let ids = group.map(\.taskID)
            do {
                try store.release(token: token, taskIDs: ids)
            } catch {
                logger.warning(
                    "could not give work back; trying again", metadata: ["rows": "\(ids.count)", "error": "\(error)"])
                keepForRelease(token, ids: ids)
            }
        }
    }

    private func keepForRelease(_ token: ClaimToken, ids: [Int64]?) {
        state.lock()
        defer { state.unlock() }
        switch (unreleased[token], ids) {
        case (nil, let ids?): unreleased[token] = Set(ids)
        case (let known??, let ids?): unreleased[token] = known.union(ids)
        default: unreleased[token] = .some(nil)  // every row of the token
        }
    }

    private func releaseKept() {
        state.lock()
        let kept = unreleased
        state.unlock()
        for (token, ids) in kept {
            do {
                let freed = try store.release(token: token, taskIDs: ids.map(Array.init))
                state.lock()
                unreleased[token] = nil
                state.unlock()
                if freed > 0 { logger.notice("gave back work held since a failure", metadata: ["rows": "\(freed)"]) }
            } catch {
                return
            }
        }
    }

    // MARK: Running

    private func execute(_ item: WorkItem) {
        let began = ContinuousClock.now
        let definition: TaskDefinition
        switch item.definition {
        case .failure(let invalid) where invalid.isUnknownAction:
            // Another executor may run it: give it back as it was.
            giveBack([item])
            return
        case .failure(let invalid):
            logger.warning("invalid task", metadata: ["task": "\(item.row.name)", "error": "\(invalid.message)"])
            do {
                try store.markInvalid(item.claim, error: invalid.message)
            } catch {
                logger.error(
                    "could not mark a task invalid", metadata: ["task": "\(item.row.name)", "error": "\(error)"])
                keepForRelease(item.token, ids: [item.row.id])
            }
            return
        case .success(let found):
            definition = found
        }
        state.lock()
        if fenced || stopping {
            // Fenced off or stopping before it started: not run, no history; the row goes back.
            state.unlock()
            giveBack([item])
            return
        }
        state.unlock()
        let planner = FirePlanner(row: item.row, schedule: definition.schedule)
        let concurrent = item.isDetached || (item.row.maxConcurrency > 1 && definition.schedule?.isRecurring == true)

        let key = RunKey(task: item.row.id, scheduled: item.fireAt, attempt: item.attempt)
        var record = RunRecord(
            taskID: item.row.id, token: item.token, scheduledFor: item.fireAt, attempt: item.attempt,
            executor: identity.id, startedAt: clock.now, finishedAt: nil, status: .running, concurrent: concurrent)
        var startRecorded = true
        if concurrent && !item.isDetached {
            // Free the row for the next fire while this one runs, in one write with the run's start.
            do {
                let next = planner.moveOn(after: item.fireAt, now: clock.now)
                switch try store.startConcurrentRun(record, next: next) {
                case .claimLost: return
                case .started, .alreadyStarted: break
                }
            } catch {
                logger.error(
                    "could not start a concurrent run", metadata: ["task": "\(item.row.name)", "error": "\(error)"])
                // Not started; if the write did happen, recovery ends the run as lost.
                keepForRelease(item.token, ids: [item.row.id])
                return
            }
        } else {
            // An at_most_once run starts only once its start is on record: an executor that dies
            // mid-run must leave a `running` row for recovery to mark lost, or the fire would run again.
            startRecorded = recorder.runStarted(
                record, durable: item.row.delivery == .atMostOnce, timeout: Self.durableStartTimeout)
        }
        let context = RunContext(
            taskID: item.row.id, taskName: item.row.name, payload: definition.payload, prepared: definition.prepared,
            scheduledFor: item.fireAt, attempt: item.attempt, timeout: item.row.timeoutSeconds)
        state.lock()
        running[key] = RunningRun(
            context: context,
            deadline: item.row.timeoutSeconds.map { .now + Duration.clamped(seconds: $0) })
        let cutOff = fenced
        state.unlock()
        if cutOff || !startRecorded { context.cancel(.executorStopping) }

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
            record.status = .killed
            record.error = reason
            plan = planner.afterInterruption(fireAt: item.fireAt, attempt: item.attempt, now: now, reason: reason)
        } else {
            plan = planner.afterRun(
                fireAt: item.fireAt, attempt: item.attempt, outcome: outcome, now: now, jitter: Double.random(in: 0...1)
            )
            switch outcome {
            case .succeeded: record.status = .succeeded
            case .failed(let message): (record.status, record.error) = (.failed, message)
            case .timedOut: (record.status, record.error) = (.timedOut, plan.error)
            case .killed: (record.status, record.error) = (.killed, plan.error)
            }
        }
        if concurrent && plan.attempt > item.attempt && plan.fireAt == item.fireAt && plan.status == .active {
            // A concurrent run retries here: the row has already moved on.
            let retry = item.retry(
                attempt: plan.attempt, due: plan.nextRun.flatMap { clock.instant(whenDatabaseReaches: $0) } ?? .now)
            state.lock()
            if !stopping { idle.insert(retry) }
            state.broadcast()
            state.unlock()
        }
        let finish =
            concurrent
            ? nil
            : RowFinish(
                claim: item.claim, plan: plan, claimed: ClaimedState(item.row),
                duration: interrupted ? nil : took.timeInterval)
        recorder.runFinished(FinishedRun(run: record, row: finish))
    }

    private func cancelAll(_ reason: RunContext.CancelReason) {
        state.lock()
        let contexts = running.values.map(\.context)
        state.unlock()
        contexts.forEach { $0.cancel(reason) }
    }

    /// The planner's decision for a fire cut short with its executor (recovery, shutdown).
    private var interruptionPlan: @Sendable (InterruptedFire) -> FirePlanner.Plan {
        let definitions = self.definitions
        return { fire in
            let schedule = try? definitions.schedule(for: fire.row).get()
            return FirePlanner(row: fire.row, schedule: schedule).afterInterruption(
                fireAt: fire.scheduledFor, attempt: fire.attempt, now: fire.now,
                reason: "its executor stopped during the run")
        }
    }

    // MARK: Timers

    /// Runs `body` every `interval` on a thread of its own until the executor has stopped.
    private func every(
        _ interval: @escaping @Sendable () -> Duration, name: String, _ body: @escaping @Sendable () -> Void
    ) {
        let thread = Thread { [self] in
            while true {
                // Read the interval before taking the lock: it takes the lock itself.
                let deadline = Date().addingTimeInterval(interval().timeInterval)
                timers.lock()
                while !timersStopped && Date() < deadline { _ = timers.wait(until: deadline) }
                let done = timersStopped
                timers.unlock()
                if done { return }
                body()
            }
        }
        thread.name = name
        thread.start()
    }

    /// The lease thread: renews the lease and nothing else, on connections of its own.
    func renewLease() {
        let sent = ContinuousClock.now
        let wallSent = Date()
        let settings = currentSettings
        let answer: LeaseRenewal
        do {
            answer = try store.renewLease(executor: identity.id, lease: settings.lease, busy: runningCount)
        } catch {
            logger.warning("lease renewal failed", metadata: ["error": "\(error)"])
            return
        }
        guard case .renewed(_, let now) = answer else {
            declaredDead()
            return
        }
        clock.observe(
            databaseNow: now, sent: sent, received: .now, wallSent: wallSent, wallReceived: Date())
        state.lock()
        lastRenewal = max(lastRenewal, sent)
        tellSupervisorsTheLease(renewedAt: lastRenewal, configuration)
        let wasFenced = fenced
        // A renewal counts from when it was sent: one that was stuck for most of the lease
        // (a lock, a stalled database) does not lift the fence, or the watchdog would fence
        // again at once and kill what had just started. The next, quick one does.
        if ContinuousClock.now - lastRenewal < configuration.selfFenceAfter { fenced = false }
        let resumed = wasFenced && !fenced
        state.broadcast()
        state.unlock()
        if resumed { logger.notice("lease renewed again; claiming resumes") }
    }

    /// The housekeeping thread: work that may wait on locks and slow statements, apart from the lease.
    func housekeeping() {
        releaseKept()
        guard !isStopping else { return }
        let settings = currentSettings
        do {
            let kills = try store.killRequests(executor: identity.id)
            if !kills.isEmpty {
                state.lock()
                let contexts = kills.compactMap { running[$0]?.context }
                state.unlock()
                contexts.forEach { $0.cancel(.killRequested) }
            }
        } catch {
            logger.warning("could not read kill requests", metadata: ["error": "\(error)"])
        }
        releaseOverdue(settings)
        recoverExpired()
        scheduleNewRows()
        pruneHistory(settings)
    }

    /// The local half, on its own thread and never blocked by the store: fence this executor
    /// off when the lease has not been renewed for most of its length, keep the shell supervisors
    /// informed while it is healthy, and enforce timeouts.
    func watchdog() {
        state.lock()
        let settings = configuration
        let silentFor = ContinuousClock.now - lastRenewal
        let shouldFence = !fenced && silentFor >= settings.selfFenceAfter
        if shouldFence { fenced = true }
        let healthy = !fenced
        let now = ContinuousClock.now
        let expired = running.values.filter { $0.deadline.map { $0 <= now } ?? false }.map(\.context)
        state.unlock()

        if shouldFence {
            logger.error(
                "no lease renewal for most of the lease: killing running tasks and stopping claims before another executor takes them over",
                metadata: ["silent for": "\(silentFor)"])
            cancelAll(.executorStopping)
            state.lock()
            let dropped = idle.removeAll() + pool.drainReady()
            state.unlock()
            // Still claimed by this executor: given back as soon as the store answers again.
            for item in dropped where !item.isDetached { keepForRelease(item.token, ids: [item.row.id]) }
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
        pool.submit(waiting.filter { !($0.due < cutoff && !$0.isDetached) })
        guard !overdue.isEmpty else { return }
        giveBack(overdue)
        logger.info("gave back work no thread could start in time", metadata: ["rows": "\(overdue.count)"])
    }

    /// Recovers the work of every executor whose lease has ended, by the store's clock and that
    /// executor's own lease.
    private func recoverExpired() {
        do {
            for holder in try store.expiredHolders() where holder != identity.id {
                let report = try store.recover(
                    executor: holder, reason: "executor \(holder) lost its lease", self: false, plan: interruptionPlan)
                if report.recovered && (report.lostRuns > 0 || report.freedRows > 0) {
                    logger.warning(
                        "recovered the work of an executor whose lease ended",
                        metadata: [
                            "from": "\(holder)", "runs lost": "\(report.lostRuns)", "rows freed": "\(report.freedRows)",
                        ])
                }
            }
        } catch {
            logger.warning("recovery failed; trying again next time", metadata: ["error": "\(error)"])
        }
    }

    /// Gives rows inserted without a `next_run` their first fire (or `invalid`, with the reason).
    private func scheduleNewRows() {
        do {
            let rows = try store.unscheduledRows(limit: 500)
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

    private func pruneHistory(_ settings: ExecutorConfiguration) {
        let now = ContinuousClock.now
        state.lock()
        let due = lastRetention.map { now - $0 >= Self.retentionInterval } ?? true
        if due { lastRetention = now }
        state.unlock()
        guard due else { return }
        do {
            var runs = 0
            // Small batches, a bounded number per pass: history never crowds out the claims.
            for _ in 0..<10 {
                let deleted = try store.pruneRuns(settings.retention, limit: 1_000)
                runs += deleted
                if deleted < 1_000 { break }
            }
            let executors = try store.pruneExecutors(settings.retention, limit: 100)
            if runs > 0 || executors > 0 {
                logger.info("pruned history", metadata: ["runs": "\(runs)", "executors": "\(executors)"])
            }
        } catch {
            logger.warning("could not prune history", metadata: ["error": "\(error)"])
        }
    }

    /// Another executor found this one's lease ended and took its work: everything in hand is
    /// fenced out. Stop it all and start over with a fresh registration.
    private func declaredDead() {
        logger.error("this executor's lease ended and its work was taken over; abandoning it and registering again")
        cancelAll(.executorStopping)
        state.lock()
        _ = idle.removeAll()
        unreleased.removeAll()
        let shuttingDown = stopping
        state.unlock()
        _ = pool.drainReady()
        guard !shuttingDown else { return }
        do {
            _ = try store.register(registration, lease: currentSettings.lease)
        } catch {
            logger.error("could not register again", metadata: ["error": "\(error)"])
        }
    }
}
