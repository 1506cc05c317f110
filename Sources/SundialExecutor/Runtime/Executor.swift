import CoreMetrics
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
    let liveness: ShellLiveness
    let recorder: RunRecorder
    let housekeeper: Housekeeper
    let clock = DatabaseClock()
    let logger: Logger
    let metrics: ExecutorMetrics
    /// When the store last answered the lease thread (for readiness).
    private var lastStoreAnswer: ContinuousClock.Instant?
    private var lastFleetSample: ContinuousClock.Instant?
    static let fleetSampleInterval: Duration = .seconds(5)

    /// Waits on the monotonic clock: a host clock step must not stretch or cut them.
    private let state = MonotonicCondition()
    private var configuration: ExecutorConfiguration
    /// The decisions: lease, fencing, stopping, runs in flight, claims to give back.
    private var machine: ExecutorMachine
    /// The monotonic clock's origin for the machine's times.
    private let origin = ContinuousClock.now
    /// The decisions about work in hand: claims, the idle queue, last looks, start outcomes,
    /// retries, what is given back.
    private var work: WorkMachine<WorkItem>
    /// The contexts of the runs in flight, to cancel them.
    private var contexts: [RunKey: RunContext] = [:]
    /// For each run in flight: the token it started under, and how much of its output so far was
    /// already handed to the recorder.
    private var liveOutputs: [RunKey: (token: ClaimToken, version: Int)] = [:]
    /// Where the next pass over the runs in flight starts, so that beyond the cap every run's
    /// output gets its turn.
    private var liveOutputTurn = 0
    private var lastRetention: ContinuousClock.Instant?
    /// The leader sleeps because every thread is busy and nothing more may be claimed: a run
    /// that ends must wake it. Otherwise ending runs wake nobody.
    private var leaderWaitsForThreads = false
    /// The timer threads sleep on their own condition, so that the leader's wake-ups do not wake them.
    private let timers = MonotonicCondition()
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
    public static let durableStartTimeout: TimeInterval = 5
    /// How often history is pruned.
    static let retentionInterval: Duration = .seconds(60)

    /// `metrics`: where its metrics go (swift-metrics; the bootstrapped system's by default).
    public init(
        store: any SundialStore, configuration: ExecutorConfiguration, handlers: HandlerRegistry,
        liveness: ShellLiveness, logger: Logger, metrics: (any MetricsFactory)? = nil
    ) {
        self.metrics = ExecutorMetrics(factory: metrics ?? MetricsSystem.factory)
        self.configuration = configuration
        self.machine = ExecutorMachine(settings: configuration.machineSettings, now: .zero)
        self.work = WorkMachine(settings: configuration.workSettings, now: .zero)
        self.identity = ExecutorIdentity(
            name: configuration.name, threads: configuration.threads, tags: configuration.tags)
        self.store = store
        self.definitions = TaskDefinitions(handlers: handlers)
        self.liveness = liveness
        var logger = logger
        logger[metadataKey: "executor"] = "\(identity.id)"
        self.logger = logger
        self.recorder = RunRecorder(store: store, logger: logger)
        self.housekeeper = Housekeeper(
            store: store, definitions: definitions, executorID: identity.id, logger: logger)
        self.pool = LeaderFollowerPool(
            threads: configuration.threads, name: "sundial-worker",
            lead: { [unowned self] lead in self.lead(lead) },
            execute: { [unowned self] item in self.execute(item) })
    }

    // MARK: Lifecycle

    /// Registers in the executor registry and starts the threads.
    public func start() throws(StoreError) {
        let settings = currentSettings
        let sent = ContinuousClock.now
        if case .renewed(_, let now) = try store.register(registration, lease: settings.lease) {
            clock.observe(databaseNow: now, sent: sent, received: .now)
        }
        state.lock()
        _ = machine.renewalAnswered(.renewed, sentAt: sent - origin, now: .now - origin)
        state.unlock()
        tellSupervisorsTheLease(renewedAt: sent, settings)
        recorder.start()
        pool.start()
        every({ [unowned self] in self.currentSettings.heartbeatInterval }, name: "sundial-lease") {
            [unowned self] in self.renewLease()
        }
        every({ [unowned self] in self.currentSettings.heartbeatInterval }, name: "sundial-housekeeping") {
            [unowned self] in self.housekeeping()
        }
        every({ .milliseconds(100) }, name: "sundial-watchdog") { [unowned self] in self.watchdog() }
        every({ Self.liveOutputInterval }, name: "sundial-live-output") { [unowned self] in self.flushLiveOutput() }
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
        if machine.isStopping {
            state.unlock()
            return
        }
        let finishedAlready = machine.stop(now: .now - origin).contains(.finishStop)
        let grace = configuration.shutdownGrace
        let unstarted = work.stop()
        state.broadcast()
        state.unlock()
        pool.stop()
        let given = unstarted + WorkMachine.claims(of: pool.drainReady())
        do {
            try store.setState(executor: identity.id, .stopping)
        } catch {
            logger.warning("could not mark the executor stopping", metadata: ["error": "\(error)"])
        }
        giveBack(given)
        logger.info("stopping", metadata: ["given back": "\(given.count)", "running": "\(runningCount)"])
        _ = finishedAlready
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
        let stuck = runningCount
        guard stuck == 0 else {
            // A handler that ignores its cancellation still runs: freeing its work now would let
            // another executor run it alongside. It is left for the lease's end, by which time
            // this process has exited and taken the handler with it.
            logger.critical(
                "runs did not end after being killed; their work is recovered by others when this executor's lease ends",
                metadata: ["running": "\(stuck)"])
            return
        }
        // Whatever is still claimed now (a claim that was in flight, a release that failed, a
        // result that could not be written) is freed the way recovery frees a dead executor's.
        do {
            let report = try store.recover(
                executor: identity.id, reason: "the executor stopped", self: true, plan: housekeeper.interruptionPlan,
                alerts: housekeeper.recoveryAlerts(currentSettings.alerting))
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
        metrics.flush()
        logger.info("executor stopped")
    }

    /// Applies new settings without dropping running tasks. The thread count is fixed at start.
    public func reload(_ new: ExecutorConfiguration) {
        state.lock()
        var applied = new
        applied.threads = configuration.threads
        applied.name = configuration.name
        configuration = applied
        machine.reload(applied.machineSettings)
        work.reload(applied.workSettings)
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
        return contexts.count
    }

    /// What readiness probes are told: read from the executor's own state, never from the store.
    public var health: ExecutorHealth {
        state.lock()
        defer { state.unlock() }
        let now = ContinuousClock.now
        return ExecutorHealth(
            leaseRemaining: machine.leaseLeft(at: now - origin), fenced: machine.fenced,
            registered: !machine.needsRegistration, stopping: machine.isStopping,
            sinceStoreAnswered: lastStoreAnswer.map { now - $0 }, lease: configuration.lease,
            resultsStalledFor: recorder.stalledFor)
    }

    // MARK: Leading

    private func lead(_ lead: LeaderFollowerPool<WorkItem>.Lead) -> [WorkItem] {
        state.lock()
        defer { state.unlock() }
        while true {
            let step = work.lead(
                machine, now: .now - origin, idleThreads: lead.idleThreads, readyCount: lead.readyCount)
            switch step {
            case .stop:
                return []
            case .run(let items):
                return items
            case .look(let items, let epoch):
                let sent = ContinuousClock.now - origin
                state.unlock()
                let (kept, dropped) = lastLook(at: items)
                state.lock()
                let outcome = work.looked(
                    kept: kept, dropped: dropped, epoch: epoch, executor: machine, sentAt: sent, now: .now - origin)
                if let run = carryOut(outcome) { return run }
            case .claim(let order):
                state.unlock()
                let began = ContinuousClock.now
                let answer = claim(order)
                state.lock()
                let took = ContinuousClock.now - began
                if case .claimed(let items, _) = answer {
                    metrics.claimed(rows: items.count, seconds: took.timeInterval)
                }
                let outcome = work.claimAnswered(
                    answer, order: order, took: took, executor: &machine, now: .now - origin,
                    jitter: .random(in: 0...1))
                if let run = carryOut(outcome) { return run }
            case .wait(let until, let forThreads):
                leaderWaitsForThreads = forThreads
                state.wait(until: origin + until)
                leaderWaitsForThreads = false
            }
        }
    }

    /// Gives back what an outcome says (outside the lock); its work to run, if any. Called and
    /// returns with the lock held.
    private func carryOut(_ outcome: WorkMachine<WorkItem>.Outcome) -> [WorkItem]? {
        if !outcome.giveBack.isEmpty {
            state.unlock()
            giveBack(outcome.giveBack)
            state.lock()
        }
        return outcome.run.isEmpty ? nil : outcome.run
    }

    private func claim(_ order: WorkMachine<WorkItem>.ClaimOrder) -> WorkMachine<WorkItem>.ClaimAnswer {
        // The token is chosen before the claim, so that a claim whose outcome is unknown can be
        // released by it.
        let settings = currentSettings
        let request = ClaimRequest(
            token: .random(), executor: identity.id, actions: definitions.handlers.actions, tags: settings.tags,
            limit: order.limit, lookahead: settings.lookahead, includeUnscheduled: order.includeUnscheduled)
        let batch: ClaimedBatch
        let sent = ContinuousClock.now
        do {
            batch = try store.claim(request)
        } catch {
            switch error.kind {
            case .conflict:
                logger.debug("claim conflicted with another writer; retrying", metadata: ["error": "\(error)"])
                return .conflict
            case .outcomeUnknown:
                logger.warning("claim outcome unknown; its rows are given back", metadata: ["error": "\(error)"])
            default:
                logger.warning("claim failed", metadata: ["error": "\(error)"])
            }
            return .failed(token: request.token, error)
        }
        guard !batch.rows.isEmpty else { return .claimed([], unscheduled: 0) }
        let answered = ContinuousClock.now
        let databaseNow: Date
        if let now = batch.now {
            // The claim's own reading: the clock keeps it only if its round trip beats the best one.
            databaseNow = now
            clock.observe(databaseNow: now, sent: sent, received: answered)
        } else {
            do {
                databaseNow = try readClock().1
            } catch {
                logger.warning("could not read the database's clock after a claim", metadata: ["error": "\(error)"])
                return .claimedWithoutClock(batch.claims, unscheduled: batch.unscheduled)
            }
        }
        let items = batch.rows.map { row in
            let fireAt = row.fireAt ?? row.nextRun ?? databaseNow
            // When the database's clock reaches next_run, on this process's clock: never early.
            let due = row.nextRun.flatMap { clock.instant(whenDatabaseReaches: $0) } ?? answered
            return WorkItem(
                row: row, token: batch.token, definition: definitions.definition(for: row), due: due - origin,
                fireAt: fireAt, attempt: row.attempt, isDetached: false, confirmedAt: sent - origin)
        }
        return .claimed(items, unscheduled: batch.unscheduled)
    }

    /// Reads the store's clock and remembers the reading; returns when the answer arrived and the
    /// time read (exact to the store's precision: a fire time taken from it is stored unchanged).
    private func readClock() throws(StoreError) -> (ContinuousClock.Instant, Date) {
        let sent = ContinuousClock.now
        let now = try store.now()
        let received = ContinuousClock.now
        clock.observe(databaseNow: now, sent: sent, received: received)
        return (received, now)
    }

    /// Work claimed well before its time is looked at once more just before it starts: a row
    /// paused, deleted or made invalid since the claim (or taken by others) is dropped. When the
    /// store does not answer, the work is kept: it starts, as it would have without the look.
    private func lastLook(at items: [WorkItem]) -> (kept: [WorkItem], dropped: [WorkItem]) {
        var dropped: [WorkItem] = []
        var kept: [WorkItem] = []
        for (token, group) in Dictionary(grouping: items, by: \.token) {
            do {
                let held = try store.stillClaimed(token: token, taskIDs: group.map(\.row.id))
                for item in group {
                    if held.contains(item.row.id) { kept.append(item) } else { dropped.append(item) }
                }
            } catch {
                logger.debug("could not look at claimed work again; it starts", metadata: ["error": "\(error)"])
                kept += group
            }
        }
        if !dropped.isEmpty {
            logger.info(
                "not started: paused, deleted or no longer claimed since it was claimed",
                metadata: ["tasks": "\(dropped.map(\.row.name).prefix(10).joined(separator: ", "))"])
        }
        return (kept, dropped)
    }

    // MARK: Giving work back

    /// Frees claimed, unstarted work in the store; what cannot be freed now is kept and freed by
    /// housekeeping (by token: never resubmitted, since a release whose outcome is unknown may
    /// have freed the row for someone else already).
    private func giveBack(_ items: [WorkItem]) {
        giveBack(WorkMachine.claims(of: items))
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
        machine.keepForRelease(token, ids: ids)
        state.unlock()
    }

    private func releaseKept() {
        state.lock()
        let kept = machine.unreleased
        state.unlock()
        for (token, ids) in kept {
            do {
                let freed = try store.release(token: token, taskIDs: ids.map(Array.init))
                state.lock()
                machine.released(token)
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
        if item.retrying != nil {
            state.lock()
            work.starting(item)
            state.unlock()
        }
        let definition: TaskDefinition
        switch item.definition {
        case .failure(let invalid) where invalid.isUnknownAction:
            // Another executor may run it: give it back as it was.
            giveBack([item])
            return
        case .failure(let invalid):
            markInvalid(item, invalid.message)
            return
        case .success(let found):
            definition = found
        }
        state.lock()
        let mayStart = machine.mayStart(at: .now - origin)
        state.unlock()
        guard mayStart else {
            // Fenced off or stopping before it started: not run, no history; the row goes back.
            giveBack([item])
            return
        }
        let concurrent = item.isConcurrent
        let key = RunKey(task: item.row.id, scheduled: item.fireAt, attempt: item.attempt)
        var record = RunRecord(
            taskID: item.row.id, token: item.token, scheduledFor: item.fireAt, attempt: item.attempt,
            executor: identity.id, startedAt: clock.now, finishedAt: nil, status: .running, concurrent: concurrent,
            requestedBy: item.row.requester(ofFire: item.fireAt))
        var startRecorded = true
        if concurrent {
            // A concurrent run is counted in `running` and on record before it starts; a fire
            // just claimed also frees its row for the next fire, in the same write.
            let moveOn =
                item.isDetached
                ? nil
                : RowFinish.concurrentStart(
                    of: item.row, token: item.token, schedule: definition.schedule, fireAt: item.fireAt, now: clock.now)
            let answer: Result<ConcurrentStart, StoreError>
            do {
                answer = .success(try store.startConcurrentRun(record, moveOn: moveOn, retrying: item.retrying))
            } catch {
                answer = .failure(error)
                logger.error(
                    error.kind == .outcomeUnknown
                        ? "a concurrent run's start may or may not have been written; not run"
                        : "could not start a concurrent run",
                    metadata: ["task": "\(item.row.name)", "error": "\(error)"])
            }
            state.lock()
            let decision = work.concurrentStartAnswered(
                item, answer, record: record, moveOn: moveOn, executor: &machine, now: .now - origin)
            state.unlock()
            switch decision {
            case .run: break
            case .giveBack(let claims):
                giveBack(claims)
                return
            case .markInvalid(let reason):
                markInvalid(item, reason)
                return
            case .waitForRoom, .uncertain, .forget:
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
        contexts[key] = context
        liveOutputs[key] = (record.token, 0)
        let startedAt = ContinuousClock.now - origin
        let startActions = machine.runStarted(
            key, claim: item.claim, deadline: item.row.timeoutSeconds.map { startedAt + Duration.clamped(seconds: $0) },
            now: startedAt)
        state.unlock()
        perform(startActions)
        if !startRecorded { context.cancel(.executorStopping) }
        // Lag of first attempts only: a retry starts late by design (its backoff).
        if item.attempt == 0 { metrics.started(lagSeconds: record.startedAt.timeIntervalSince(item.fireAt)) }

        var end: AttemptEnd
        var handlerRan = false
        do {
            // Not started at all when stopped before its start: the interruption is recorded below.
            guard !context.isCancelled else { throw RunKilled(output: nil) }
            handlerRan = true
            let output = try definition.handler.run(context)
            (record.exitCode, record.output) = (output.exitCode, output.output)
            end = .succeeded
        } catch let failure as RunFailure {
            (record.exitCode, record.output) = (failure.exitCode, failure.output)
            end = .failed(failure.message)
        } catch let timedOut as RunTimedOut {
            record.output = timedOut.output
            end = .timedOut
        } catch let killed as RunKilled {
            record.output = killed.output
            end = .killed
        } catch let interrupted as RunInterrupted {
            record.output = interrupted.output
            end = .interrupted(interrupted.message)
        } catch {
            end = .failed("\(error)")
        }

        let took = ContinuousClock.now - began
        state.lock()
        contexts[key] = nil
        liveOutputs[key] = nil
        let alerting = configuration.alerting
        let cancelled = machine.running[key]?.cancelled
        if !handlerRan { end = .neverRan(startRecorded: startRecorded, cancelled: cancelled) }
        let endActions = machine.runEnded(key)
        work.observeRun(seconds: took.timeInterval)
        if leaderWaitsForThreads { state.broadcast() }
        state.unlock()
        perform(endActions)

        let result = AttemptResult(
            row: item.row, schedule: definition.schedule, run: record, end: end, cancelled: cancelled,
            took: took.timeInterval, now: clock.now, jitter: Double.random(in: 0...1), alerting: alerting)
        recorder.runFinished(result.finished)
        let finished = result.finished
        if finished.row?.plan.misfired == true { metrics.misfired(policy: item.row.misfirePolicy) }
        metrics.runEnded(
            action: item.row.action, status: finished.run.status, seconds: took.timeInterval,
            retryPlanned: finished.run.retryAt != nil
                || (finished.row.map { $0.plan.attempt > item.attempt && $0.plan.fireAt == item.fireAt } ?? false))
    }

    private func markInvalid(_ item: WorkItem, _ message: String) {
        logger.warning("invalid task", metadata: ["task": "\(item.row.name)", "error": "\(message)"])
        do {
            try store.markInvalid(item.claim, error: message)
        } catch {
            logger.error("could not mark a task invalid", metadata: ["task": "\(item.row.name)", "error": "\(error)"])
            keepForRelease(item.token, ids: [item.row.id])
        }
    }

    /// Carries out the machine's actions (outside the lock).
    private func perform(_ actions: [ExecutorMachine.Action]) {
        for action in actions {
            switch action {
            case .cancel(let key, let reason):
                state.lock()
                let context = contexts[key]
                state.unlock()
                context?.cancel(RunContext.CancelReason(reason))
            case .fence:
                metrics.fencedOff()
                logger.error(
                    "no lease renewal for most of the lease: killing running tasks and stopping claims before another executor takes them over"
                )
                cancelAll(.executorStopping)
                let ready = pool.drainReady()
                state.lock()
                // Still claimed by this executor: given back as soon as the store answers again.
                work.dropHeldWork(ready: ready, because: .fence, executor: &machine)
                state.unlock()
            case .abandon:
                declaredDead()
            case .finishStop:
                // `stop()` finishes the stop itself once the pool has drained.
                break
            }
        }
    }

    private func cancelAll(_ reason: RunContext.CancelReason) {
        state.lock()
        let all = Array(contexts.values)
        state.unlock()
        all.forEach { $0.cancel(reason) }
    }

    // MARK: Timers

    /// How often the output so far of running attempts goes to the recorder, and how many runs'
    /// at most each time (the others' wait for the next).
    static let liveOutputInterval: Duration = .seconds(1)
    static let liveOutputsPerFlush = 256

    /// Hands the recorder the output so far of running attempts that reported new output, to be
    /// written with its next batch.
    private func flushLiveOutput() {
        var updates: [RunProgress] = []
        state.lock()
        let keys = Array(contexts.keys).sorted()
        let start = keys.isEmpty ? 0 : liveOutputTurn % keys.count
        liveOutputTurn = start + Self.liveOutputsPerFlush
        for key in keys[start...] + keys[..<start] where updates.count < Self.liveOutputsPerFlush {
            guard let context = contexts[key] else { continue }
            guard var watch = liveOutputs[key], let text = context.outputReported(since: &watch.version) else {
                continue
            }
            liveOutputs[key] = watch
            updates.append(RunProgress(key: key, token: watch.token, output: text))
        }
        state.unlock()
        recorder.runProgress(updates)
    }

    /// Runs `body` every `interval` on a thread of its own until the executor has stopped.
    private func every(
        _ interval: @escaping @Sendable () -> Duration, name: String, _ body: @escaping @Sendable () -> Void
    ) {
        let thread = Thread { [self] in
            while true {
                // Read the interval before taking the lock: it takes the lock itself.
                let deadline = ContinuousClock.now + interval()
                timers.lock()
                while !timersStopped && ContinuousClock.now < deadline { timers.wait(until: deadline) }
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
        let settings = currentSettings
        state.lock()
        let mustRegister = machine.needsRegistration && !machine.isStopping
        state.unlock()
        if mustRegister {
            registerAgain(sentAt: sent)
            return
        }
        if !recorder.mayRenew(lease: settings.lease) {
            // Results that cannot be written keep their rows claimed: an executor in that state
            // must not look alive. Its lease lapses, it fences itself, others recover its work.
            logger.error(
                "run results have not been written for a whole lease; not renewing the lease",
                metadata: ["stalled for": "\(recorder.stalledFor ?? settings.lease)"])
            return
        }
        var renewal = ExecutorMachine.Renewal.failed
        do {
            switch try store.renewLease(executor: identity.id, lease: settings.lease, busy: runningCount) {
            case .renewed(_, let now):
                clock.observe(databaseNow: now, sent: sent, received: .now)
                renewal = .renewed
            case .lost:
                renewal = .lost
            }
        } catch {
            logger.warning("lease renewal failed", metadata: ["error": "\(error)"])
        }
        state.lock()
        if renewal != .failed { lastStoreAnswer = .now }
        metrics.sample(
            busyThreads: contexts.count, threads: settings.threads, recorderQueue: recorder.queued,
            leaseRemaining: machine.leaseLeft(at: .now - origin))
        let wasFenced = machine.fenced
        let actions = machine.renewalAnswered(renewal, sentAt: sent - origin, now: .now - origin)
        let resumed = wasFenced && !machine.fenced
        if renewal == .renewed {
            tellSupervisorsTheLease(renewedAt: origin + machine.lastRenewal, configuration)
        }
        state.broadcast()
        state.unlock()
        perform(actions)
        if resumed { logger.notice("lease renewed again; claiming resumes") }
    }

    /// The housekeeping thread: work that may wait on locks and slow statements, apart from the lease.
    func housekeeping() {
        releaseKept()
        settleUncertainStarts()
        guard !isStopping else { return }
        let settings = currentSettings
        do {
            let kills = try store.killRequests(executor: identity.id)
            if !kills.isEmpty {
                state.lock()
                let actions = machine.killRequested(kills)
                state.unlock()
                perform(actions)
            }
        } catch {
            logger.warning("could not read kill requests", metadata: ["error": "\(error)"])
        }
        releaseOverdue()
        takeDueRetries(settings)
        housekeeper.recoverExpired(alerting: settings.alerting)
        housekeeper.scheduleNewRows()
        pruneHistory(settings)
        sampleFleet()
    }

    /// The registry, the backlog and the opted-in tasks for the metrics, and fires gone late, every
    /// few seconds (indexed reads).
    private func sampleFleet() {
        let now = ContinuousClock.now
        state.lock()
        let due = lastFleetSample.map { now - $0 >= Self.fleetSampleInterval } ?? true
        if due { lastFleetSample = now }
        state.unlock()
        guard due else { return }
        do {
            metrics.fleet(executors: try store.executors(), dueBacklog: try store.dueBacklog(cap: 100_000))
            metrics.tasks(try store.taskSeries(limit: ExecutorMetrics.taskSeriesLimit))
        } catch {
            logger.debug("could not sample the fleet for the metrics", metadata: ["error": "\(error)"])
        }
        housekeeper.checkLateFires(currentSettings.alerting)
    }

    /// The local half, on its own thread and never blocked by the store: fence this executor
    /// off when the lease has not been renewed for most of its length, keep the shell supervisors
    /// informed while it is healthy, and enforce timeouts and the shutdown grace.
    func watchdog() {
        state.lock()
        let actions = machine.tick(now: .now - origin)
        let healthy = !machine.fenced
        state.unlock()
        perform(actions)
        // Each ping carries the lease left; supervisors end their commands before it runs out.
        if healthy { liveness.pingAll() }
    }

    /// After a lost lease: a fresh registration, before anything is claimed again.
    private func registerAgain(sentAt sent: ContinuousClock.Instant) {
        do {
            if case .renewed(_, let now) = try store.register(registration, lease: currentSettings.lease) {
                clock.observe(databaseNow: now, sent: sent, received: .now)
            }
            state.lock()
            machine.registered(sentAt: sent - origin, now: .now - origin)
            tellSupervisorsTheLease(renewedAt: origin + machine.lastRenewal, configuration)
            state.broadcast()
            state.unlock()
            logger.notice("registered again; claiming resumes")
        } catch {
            logger.error("could not register again; trying at the next heartbeat", metadata: ["error": "\(error)"])
        }
    }

    private var isStopping: Bool {
        state.lock()
        defer { state.unlock() }
        return machine.isStopping
    }

    private var currentSettings: ExecutorConfiguration {
        state.lock()
        defer { state.unlock() }
        return configuration
    }

    /// Due work that has waited longer than `releaseAfter` for a thread goes back to the table.
    private func releaseOverdue() {
        let waiting = pool.drainReady()
        guard !waiting.isEmpty else { return }
        state.lock()
        let (keep, overdue) = work.overdue(waiting, now: .now - origin)
        state.unlock()
        pool.submit(keep)
        guard !overdue.isEmpty else { return }
        giveBack(overdue)
        logger.info("gave back work no thread could start in time", metadata: ["rows": "\(overdue.count)"])
    }

    /// Asks again about concurrent starts whose answer was lost (after the claims they came from
    /// were given back): one that happened is ended as not run, so that its count in `running`
    /// goes down and its fire runs again.
    private func settleUncertainStarts() {
        state.lock()
        let uncertain = work.uncertainStarts
        state.unlock()
        for start in uncertain {
            let answer: Result<ConcurrentStart, StoreError>
            do {
                answer = .success(
                    try store.startConcurrentRun(start.record, moveOn: start.moveOn, retrying: start.work.retrying))
            } catch {
                answer = .failure(error)
            }
            state.lock()
            let settlement = work.uncertainStartAnswered(start.record.key, token: start.record.token, answer)
            state.unlock()
            switch settlement {
            case .keepAsking:
                continue
            case .forget:
                if case .failure(let error) = answer {
                    logger.error(
                        "gave up confirming a concurrent run's start",
                        metadata: ["task": "\(start.work.row.name)", "error": "\(error)"])
                }
            case .endAsNotRun(let start):
                let schedule = try? start.work.definition.get().schedule
                let result = AttemptResult(
                    row: start.work.row, schedule: schedule, run: start.record,
                    end: .notRun("its start could not be confirmed"), cancelled: nil, took: 0,
                    now: clock.now, jitter: Double.random(in: 0...1), alerting: currentSettings.alerting)
                recorder.runFinished(result.finished)
            }
        }
    }

    /// Concurrent runs whose fire runs again: queued here, taken from the store when they start
    /// (so another executor may take one first, and one that is never started stays for others).
    private func takeDueRetries(_ settings: ExecutorConfiguration) {
        state.lock()
        let wanted = work.wantsRetries(machine, now: .now - origin)
        state.unlock()
        guard wanted else { return }
        let due: [DueRetry]
        do {
            due = try store.dueRetries(
                actions: definitions.handlers.actions, tags: settings.tags, lookahead: settings.lookahead,
                limit: settings.threads)
        } catch {
            logger.warning("could not read due retries", metadata: ["error": "\(error)"])
            return
        }
        let retries = due.map { retry in
            WorkItem(
                row: retry.row, token: .random(), definition: definitions.definition(for: retry.row),
                due: (clock.instant(whenDatabaseReaches: retry.retryAt) ?? .now) - origin, fireAt: retry.run.scheduled,
                attempt: FirePlanner.following(retry.run.attempt), isDetached: true, retrying: retry.run)
        }
        state.lock()
        if work.queueRetries(retries) { state.broadcast() }
        state.unlock()
    }

    private func pruneHistory(_ settings: ExecutorConfiguration) {
        let now = ContinuousClock.now
        state.lock()
        let due = lastRetention.map { now - $0 >= Self.retentionInterval } ?? true
        if due { lastRetention = now }
        state.unlock()
        // A backlog (a busy table, or retention just switched on) is worked off at every
        // heartbeat, 10,000 runs each, until it is gone.
        if due && housekeeper.pruneHistory(settings.retention, alertsOlderThan: settings.alertRetention) {
            state.lock()
            lastRetention = nil
            state.unlock()
        }
    }

    /// Another executor found this one's lease ended and took its work: everything in hand is
    /// fenced out. Stop it all and start over with a fresh registration.
    private func declaredDead() {
        state.lock()
        let shuttingDown = machine.isStopping
        state.unlock()
        if shuttingDown {
            // A renewal that was under way when the stop marked the registration stopped: nothing
            // was taken over (and in `sundial serve` the process lives on after the stop).
            logger.debug("a lease renewal after the stop found the registration ended")
        } else {
            logger.error("this executor's lease ended and its work was taken over; abandoning it and registering again")
        }
        cancelAll(.executorStopping)
        let ready = pool.drainReady()
        state.lock()
        work.dropHeldWork(ready: ready, because: .abandon, executor: &machine)
        state.unlock()
        guard !shuttingDown else { return }
        registerAgain(sentAt: ContinuousClock.now)
    }
}

extension RunContext.CancelReason {
    init(_ reason: ExecutorMachine.CancelReason) {
        switch reason {
        case .killRequested: self = .killRequested
        case .timedOut: self = .timedOut
        case .executorStopping: self = .executorStopping
        }
    }
}
