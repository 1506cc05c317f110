import Foundation
import SundialActions
import SundialAlerts
import SundialCore
import SundialExecutor
import SundialSchedule

/// One executor process on the virtual clock: the real state machine (`ExecutorMachine`), the
/// real decisions (`AttemptResult`, `FirePlanner`, `Housekeeper`), the real store calls; threads
/// replaced by slots, handlers by durations.
final class SimulatedExecutor {
    struct Item: SettableQueuedWork {
        var row: TaskRow
        var token: ClaimToken
        var schedule: Schedule?
        var due: Duration
        var fireAt: Date
        var attempt: Int
        /// A concurrent run's retry: the row moved on when the first attempt started.
        var isDetached: Bool
        /// The run whose retry this is.
        var retrying: RunKey? = nil
        /// When the claim was last seen standing (claimed, or looked at again).
        var confirmedAt: Duration
        /// When it was claimed.
        var claimedAt: Duration
        /// Its last look could not be taken: it starts regardless, as the runtime's does.
        var lookFailed = false
        var claim: Claim { Claim(taskID: row.id, token: token) }
        var lastDuration: Double? { row.lastDuration }
        var isConcurrent: Bool { isDetached || (row.maxConcurrency > 1 && schedule?.isRecurring == true) }
    }

    struct Run {
        var item: Item
        var record: RunRecord
        var startedAt: Duration
        var endsAt: Duration
        var evidence: Int
        /// Ended by its supervisor (the executor silent too long) before the executor noticed.
        var killedBySupervisor = false
        var cancelled: ExecutorMachine.CancelReason?
        /// A poison fire: it takes its executor's process down at this time.
        var crashesAt: Duration?
    }

    let id: String
    let world: World
    let threads: Int
    /// Each executor its own lease (started with a different `--lease`): recovery must judge
    /// each by its own.
    let lease: Duration
    var machine: ExecutorMachine
    /// The runtime's decisions about work in hand: claims, the idle queue, last looks, start
    /// outcomes, retries.
    var work: WorkMachine<Item>
    let housekeeper: Housekeeper
    /// Delivers alerts, as every executor does, through the simulation's channel.
    let dispatcher: AlertDispatcher
    private(set) var alive = true
    private(set) var exited = false
    var frozenUntil: Duration?
    /// Handed out by the leader, waiting for a free thread (the pool's ready queue).
    var ready: [Item] = []
    /// Threads inside a slow store call: the call took effect when it was made, its answer
    /// arrives later, and the thread does nothing else until then.
    private var blocked: [SimulatedThread: Blocked] = [:]
    /// The runtime's recorder: group commit, splitting, durable starts and the stall judgement.
    private var recorder = RecorderMachine()
    /// Durable starts whose pool thread waits for the recorder to confirm them.
    private var starting: [RunKey: DurableStart] = [:]
    /// Concurrent starts whose store call is slow: it took effect when made; the pool thread
    /// learns the answer later, and does nothing else until then.
    private var slowStarts: [RunKey: SlowStart] = [:]
    /// What the stop waits for from the recorder, and until when (as the runtime's `recorder.stop`).
    private var stopFlush: (generation: Int, deadline: Duration)?

    enum SimulatedThread: Hashable { case leader, lease, recorder }

    struct Blocked {
        var until: Duration
        /// Claims the call's answer carries: still in this executor's hands meanwhile.
        var holds: (Claim) -> Bool
        var answer: () -> Void
    }
    struct SlowStart {
        var item: Item
        var record: RunRecord
        var moveOn: RowFinish?
        var answer: Result<ConcurrentStart, StoreError>
        var until: Duration
    }
    struct DurableStart {
        var item: Item
        var record: RunRecord
        var generation: Int
        var deadline: Duration
    }

    var running: [RunKey: Run] = [:]
    /// Database time minus virtual time, as last read from the store.
    var clockOffset: Double
    var nextRenewal: Duration
    var nextHousekeeping: Duration
    var nextWatchdog: Duration

    /// The actions it runs and the tags it carries (`--tags`).
    let actions: [String]
    let tags: [String]

    init?(id: String, world: World, actions: [String], tags: [String]) {
        self.id = id
        self.world = world
        (self.actions, self.tags) = (actions, tags)
        self.threads = world.settings.threadsPerExecutor
        self.lease = world.settings.lease * Double.random(in: 0.6...2, using: &world.random)
        let now = world.now
        machine = ExecutorMachine(
            settings: .init(lease: lease, shutdownGrace: world.settings.shutdownGrace), now: now)
        work = WorkMachine(
            settings: WorkSettings(
                batch: 64, queueAllowance: 2, pollInterval: world.settings.pollInterval,
                releaseAfter: Self.releaseAfter),
            now: now)
        housekeeper = Housekeeper(
            store: world.store, definitions: world.definitions, executorID: id, logger: world.logger)
        dispatcher = AlertDispatcher(
            store: world.store, channels: [World.alertChannel: SimulatedChannel(world: world)], executorID: id,
            logger: world.logger)
        dispatcher.retryDelay = { _ in .milliseconds(500) }
        dispatcher.claimMargin = .seconds(1)
        clockOffset = world.databaseOffset
        (nextRenewal, nextHousekeeping, nextWatchdog) = (now, now, now)
        let registered = world.call(id) { try world.store.register(self.registration, lease: lease) }
        guard case .renewed? = registered else { return nil }
        world.trace("\(id) started")
    }

    var isFrozen: Bool { frozenUntil.map { world.now < $0 } ?? false }

    /// One step of the virtual clock.
    func step() {
        guard alive, !exited else { return }
        let now = world.now
        supervise(now)
        if isFrozen { return }
        let thawed = frozenUntil != nil
        frozenUntil = nil
        if running.values.contains(where: { $0.crashesAt.map { $0 <= now } ?? false }) {
            world.trace("\(id) killed by a poison fire")
            crash()
            return
        }
        finishEndedRuns(now)
        reportOutputsSoFar(now)
        // A thread that resumes from a pause may run before the watchdog does: work must not
        // start on a lease that lapsed meanwhile, whoever looks first.
        if thawed && world.random.chance(0.5) {
            // As a pool thread that resumes first takes what was ready before the pause.
            startReady(now)
        }
        if now >= nextWatchdog {
            nextWatchdog = now + .milliseconds(100)
            perform(machine.tick(now: now))
        }
        if isFree(.lease, now) && now >= nextRenewal {
            nextRenewal = now + world.settings.heartbeat
            renew(now)
        }
        if now >= nextHousekeeping && !machine.isStopping {
            nextHousekeeping = now + world.settings.heartbeat
            housekeeping()
        }
        releaseKept()
        settleUncertainStarts()
        record(now)
        settleDurableStarts(world.now)
        settleSlowStarts(world.now)
        lead(now)
        startReady(now)
        if machine.phase == .stopped && running.isEmpty && starting.isEmpty && slowStarts.isEmpty { finishStop() }
    }

    // MARK: Lease

    private func renew(_ sent: Duration) {
        if machine.needsRegistration && !machine.isStopping {
            if world.call(id, { try world.store.register(registration, lease: lease) }) != nil {
                machine.registered(sentAt: sent, now: world.now)
                world.trace("\(id) registered again")
            }
            return
        }
        guard recorder.mayRenew(lease: lease, at: sent) else {
            // As the runtime: results stuck for a whole lease keep rows claimed; not renewing
            // lets the lease lapse, so that the executor fences itself and others recover.
            world.trace("\(id) results stuck for a lease; not renewing")
            return
        }
        var renewal = ExecutorMachine.Renewal.failed
        let answer = world.call(id) {
            try world.store.renewLease(executor: id, lease: lease, busy: running.count)
        }
        let delay = world.slowCallDelay()
        switch answer {
        case .renewed(_, let dbNow)?:
            clockOffset = dbNow.timeIntervalSince1970 - (sent + delay).timeInterval
            renewal = .renewed
        case .lost?: renewal = .lost
        case nil: break
        }
        answerLater(.lease, after: delay) { [self] in
            perform(machine.renewalAnswered(renewal, sentAt: sent, now: world.now))
        }
    }

    /// Runs `answer` now, or blocks `thread` until `delay` has passed and runs it then.
    private func answerLater(
        _ thread: SimulatedThread, after delay: Duration, holding holds: @escaping (Claim) -> Bool = { _ in false },
        _ answer: @escaping () -> Void
    ) {
        guard delay > .zero else { return answer() }
        world.trace("\(id) \(thread) waits \(delay) for a store call's answer")
        blocked[thread] = Blocked(until: world.now + delay, holds: holds, answer: answer)
    }

    /// Whether `thread` may act at `now`: not while inside a slow call. An answer that has
    /// arrived is acted on first.
    private func isFree(_ thread: SimulatedThread, _ now: Duration) -> Bool {
        guard let call = blocked[thread] else { return true }
        guard now >= call.until else { return false }
        blocked[thread] = nil
        call.answer()
        return blocked[thread] == nil
    }

    /// What happens to running commands whatever the executor does: they end on their own at
    /// their time, and their supervisors end them when the lease they were last told about runs
    /// out (at 95 % of it): the one guarantee a frozen executor keeps.
    private func supervise(_ now: Duration) {
        let limit = machine.lastRenewal + lease * 0.95
        for (key, run) in running.sorted(by: { $0.key < $1.key }) where !run.killedBySupervisor {
            if run.endsAt <= now {
                world.evidence.end(run.evidence, at: run.endsAt, completed: run.cancelled == nil)
            } else if now >= limit {
                running[key]?.killedBySupervisor = true
                world.evidence.end(run.evidence, at: now, completed: false)
                world.trace("\(id) supervisor killed \(key) (lease ran out)")
            }
        }
    }

    // MARK: Leading

    /// Due work that waited this long for a free thread goes back to the table.
    static let releaseAfter: Duration = .seconds(2)

    /// The pool's leader: while a thread is free and nothing waits for one, it takes the work
    /// machine's steps (claims, last looks, due work) until the machine says to wait.
    private func lead(_ now: Duration) {
        guard isFree(.leader, now) else { return }
        var rounds = 0
        while busyThreads < threads && ready.isEmpty && rounds < 8 && blocked[.leader] == nil {
            rounds += 1
            let step = work.lead(
                machine, now: now, idleThreads: threads - busyThreads, readyCount: ready.count)
            switch step {
            case .stop, .wait:
                return
            case .run(let items):
                ready += items
            case .look(let items, let epoch):
                let (kept, dropped) = lastLook(at: items, now)
                let looking = Set(WorkMachine.claims(of: items))
                answerLater(.leader, after: world.slowCallDelay(), holding: { looking.contains($0) }) { [self] in
                    let outcome = work.looked(
                        kept: kept, dropped: dropped, epoch: epoch, executor: machine, sentAt: now, now: world.now)
                    giveBack(outcome.giveBack)
                    ready += outcome.run
                }
            case .claim(let order):
                // Whatever the claim took is in the leader's hands until it has the answer (an
                // unknown outcome included).
                let (answer, token) = claim(order, now)
                answerLater(.leader, after: world.slowCallDelay(), holding: { $0.token == token }) { [self] in
                    let outcome = work.claimAnswered(
                        answer, order: order, took: world.now - now, executor: &machine, now: world.now,
                        jitter: Double.random(in: 0...1, using: &world.random))
                    giveBack(outcome.giveBack)
                    ready += outcome.run
                }
            }
            startReady(now)
        }
    }

    private func claim(_ order: WorkMachine<Item>.ClaimOrder, _ now: Duration) -> (
        WorkMachine<Item>.ClaimAnswer, ClaimToken
    ) {
        let request = ClaimRequest(
            token: ClaimToken.random(using: &world.random), executor: id,
            actions: actions, tags: tags, limit: order.limit, lookahead: .milliseconds(500),
            includeUnscheduled: order.includeUnscheduled)
        let batch: ClaimedBatch
        do {
            batch = try world.callThrowing(id) { try world.store.claim(request) }
        } catch {
            world.trace("\(id) claim failed: \(error.kind)")
            return (error.kind == .conflict ? .conflict : .failed(token: request.token, error), request.token)
        }
        guard !batch.rows.isEmpty else { return (.claimed([], unscheduled: 0), request.token) }
        guard let dbNow = batch.now ?? world.call(id, { try world.store.now() }) else {
            return (.claimedWithoutClock(batch.claims, unscheduled: batch.unscheduled), request.token)
        }
        clockOffset = dbNow.timeIntervalSince1970 - world.now.timeInterval
        var items: [Item] = []
        for row in batch.rows {
            guard case .success(let schedule) = world.definitions.schedule(for: row) else {
                giveBack([Claim(taskID: row.id, token: batch.token)])
                continue
            }
            let due = row.nextRun.map { Duration.seconds($0.timeIntervalSince1970 - clockOffset) } ?? now
            items.append(
                Item(
                    row: row, token: batch.token, schedule: schedule, due: max(now, due),
                    fireAt: row.fireAt ?? row.nextRun ?? dbNow, attempt: row.attempt, isDetached: false,
                    confirmedAt: now, claimedAt: now))
            world.trace(
                "\(id) claimed task \(row.id) fire \(row.fireAt ?? row.nextRun ?? dbNow) attempt \(row.attempt)")
        }
        return (.claimed(items, unscheduled: batch.unscheduled), request.token)
    }

    private func giveBack(_ claims: [Claim]) {
        for (token, group) in Dictionary(grouping: claims, by: \.token).sorted(by: { $0.key.rawValue < $1.key.rawValue }
        ) {
            let ids = group.map(\.taskID)
            if world.call(id, { try world.store.release(token: token, taskIDs: ids) }) == nil {
                machine.keepForRelease(token, ids: ids)
            }
        }
    }

    private func releaseKept() {
        for (token, ids) in machine.unreleased.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            if world.call(id, { try world.store.release(token: token, taskIDs: ids.map(Array.init)) }) != nil {
                machine.released(token)
            }
        }
    }

    // MARK: Runs

    /// Pool threads running a handler, or waiting for a durable start or a slow concurrent start.
    private var busyThreads: Int { running.count + starting.count + slowStarts.count }

    /// Threads take ready work, first handed out first, while they are free.
    private func startReady(_ now: Duration) {
        while busyThreads < threads, !ready.isEmpty {
            start(ready.removeFirst(), now)
        }
    }

    /// As the runtime does: work claimed well ahead is looked at again just before its start;
    /// what was paused, deleted or taken since is dropped.
    private func lastLook(at items: [Item], _ now: Duration) -> (kept: [Item], dropped: [Item]) {
        var kept: [Item] = []
        var dropped: [Item] = []
        for (token, group) in Dictionary(grouping: items, by: \.token).sorted(by: {
            $0.key.rawValue < $1.key.rawValue
        }) {
            let ids = group.map(\.row.id)
            guard let held = world.call(id, { try world.store.stillClaimed(token: token, taskIDs: ids) }) else {
                kept += group.map { item in
                    var item = item
                    item.lookFailed = true
                    return item
                }
                continue
            }
            for item in group {
                if held.contains(item.row.id) { kept.append(item) } else { dropped.append(item) }
            }
        }
        if !dropped.isEmpty {
            world.trace("\(id) last look: tasks \(dropped.map(\.row.id)) no longer claimed and active; not started")
        }
        return (kept, dropped)
    }

    private func start(_ item: Item, _ now: Duration) {
        work.starting(item)
        guard machine.mayStart(at: now) else {
            giveBack(WorkMachine.claims(of: [item]))
            return
        }
        let row = item.row
        let concurrent = item.isConcurrent
        let dbNow = Date(timeIntervalSince1970: now.timeInterval + clockOffset)
        let record = RunRecord(
            taskID: row.id, token: item.token, scheduledFor: item.fireAt, attempt: item.attempt, executor: id,
            startedAt: dbNow, status: .running, concurrent: concurrent, requestedBy: row.requester(ofFire: item.fireAt))
        if concurrent {
            let moveOn =
                item.isDetached
                ? nil
                : RowFinish.concurrentStart(
                    of: row, token: item.token, schedule: item.schedule, fireAt: item.fireAt, now: dbNow)
            world.startsSentFirst.insert(record.key)
            let start = SlowStart(
                item: item, record: record, moveOn: moveOn,
                answer: world.result(id) {
                    try world.store.startConcurrentRun(record, moveOn: moveOn, retrying: item.retrying)
                }, until: now + world.slowCallDelay())
            guard start.until > now else { return concurrentStartAnswered(start, now) }
            // The pool thread waits for the answer (the start took effect when made).
            world.trace("\(id) pool thread waits \(start.until - now) for the start of \(record.key)")
            slowStarts[record.key] = start
            return
        } else if row.delivery == .atMostOnce {
            // Durable start: the thread waits until the recorder has it on record under this
            // claim's token, or gives the fire up at the runtime's deadline.
            world.startsSentFirst.insert(record.key)
            let generation = recorder.queueStarted(record, durable: true, now: now).generation
            starting[record.key] = DurableStart(
                item: item, record: record, generation: generation,
                deadline: now + .seconds(Executor.durableStartTimeout))
            return
        } else {
            recorder.queueStarted(record, durable: false, now: now)
        }
        begin(item, record: record, startRecorded: true, now)
    }

    /// The pool thread has the store's answer to a concurrent start: it runs the fire, gives it
    /// back, or leaves it to the work machine.
    private func concurrentStartAnswered(_ start: SlowStart, _ now: Duration) {
        let item = start.item
        switch work.concurrentStartAnswered(
            item, start.answer, record: start.record, moveOn: start.moveOn, executor: &machine, now: now)
        {
        case .run:
            begin(item, record: start.record, startRecorded: true, now)
        case .giveBack(let claims):
            giveBack(claims)
        case .markInvalid(let reason):
            world.trace("\(id) marks task \(item.row.id) invalid: \(reason)")
            if world.call(id, { try world.store.markInvalid(item.claim, error: reason) }) == nil {
                machine.keepForRelease(item.token, ids: [item.row.id])
            }
        case .waitForRoom, .uncertain, .forget:
            break
        }
    }

    /// Slow concurrent starts whose answer has arrived.
    private func settleSlowStarts(_ now: Duration) {
        for (key, start) in slowStarts.sorted(by: { $0.key < $1.key }) where start.until <= now {
            slowStarts[key] = nil
            concurrentStartAnswered(start, now)
        }
    }

    /// Durable starts the recorder has settled (or whose wait ran out) go on, or end unrun.
    private func settleDurableStarts(_ now: Duration) {
        for (key, start) in starting.sorted(by: { $0.key < $1.key })
        where recorder.isWritten(start.generation) || now >= start.deadline {
            starting[key] = nil
            begin(start.item, record: start.record, startRecorded: recorder.settleDurableStart(key), now)
        }
    }

    /// The pool thread begins the handler, once the start is as on record as its delivery needs.
    private func begin(_ item: Item, record: RunRecord, startRecorded: Bool, _ now: Duration) {
        let row = item.row
        let key = record.key
        let deadline = row.timeoutSeconds.map { now + Duration.clamped(seconds: $0) }
        perform(machine.runStarted(key, claim: item.claim, deadline: deadline, now: now))
        guard startRecorded, machine.running[key]?.cancelled == nil else {
            // As the runtime: not run when its start was not recorded or the executor stopped
            // first; cut short by a kill request or its timeout otherwise.
            let end = AttemptEnd.neverRan(startRecorded: startRecorded, cancelled: machine.running[key]?.cancelled)
            self.end(key: key, item: item, record: record, end: end, now: now, startedAt: now)
            return
        }
        // Paused or deleted after the claim but before the last look (a moment before the fire's
        // time; a fire waiting for a free thread after that may still start).
        if !item.isDetached && !item.lookFailed, let stopped = world.stoppedAt[row.id],
            stopped > item.claimedAt, stopped + lastLookLead + world.settings.step < item.due
        {
            world.evidence.violation(
                "at \(now): \(id) started task \(row.id)'s fire \(item.fireAt) (due at \(item.due)), claimed at \(item.claimedAt), though the row was paused or deleted at \(stopped)"
            )
        }
        // Only what this executor runs: its actions, and rows its tags allow.
        if !actions.contains(row.action) || !CommaList.tagsAllow(row.tags, executorTags: tags) {
            world.evidence.violation(
                "at \(now): \(id) (actions \(actions), tags \(tags)) started task \(row.id) (action \(row.action), tags \(row.tags ?? "none"))"
            )
        }
        // Never on a lease others have recovered (the registry says dead): they may run the fire.
        if (try? world.store.executors())?.first(where: { $0.id == id })?.state == .dead {
            world.evidence.violation(
                "at \(now): \(id) started \(key) after other executors had recovered its work (its lease had lapsed)")
        }
        let evidence = world.evidence.start(
            task: row, fire: item.fireAt, attempt: item.attempt, executor: id, token: record.token, at: now)
        running[key] = Run(
            item: item, record: record, startedAt: now, endsAt: now + world.duration(of: row), evidence: evidence,
            crashesAt: world.isPoison(row.id)
                ? now + .milliseconds(Int64.random(in: 0...300, using: &world.random)) : nil)
        world.trace("\(id) started \(key)")
    }

    /// As a command's supervisor does: output so far, now and then, while runs go on.
    private func reportOutputsSoFar(_ now: Duration) {
        let updates = running.values.sorted { $0.record.key < $1.record.key }.filter { _ in world.random.chance(0.01) }
            .map { RunProgress(key: $0.record.key, token: $0.record.token, output: "\(World.outputSoFar) \(now)") }
        if !updates.isEmpty { _ = recorder.queueProgress(updates, now: now) }
    }

    private func finishEndedRuns(_ now: Duration) {
        for (key, run) in running.sorted(by: { $0.key < $1.key })
        where run.endsAt <= now || run.cancelled != nil || run.killedBySupervisor {
            let end: AttemptEnd
            if run.killedBySupervisor {
                end = .interrupted("its supervisor lost the executor")
            } else if world.evidence.executions[run.evidence].completed {
                end = world.failsThisTime(run.item.row.id) ? .failed("the simulated task failed") : .succeeded
            } else if let reason = run.cancelled {
                switch reason {
                case .killRequested: end = .killed
                case .timedOut: end = .timedOut
                case .executorStopping: end = .killed
                }
            } else {
                end = .succeeded
            }
            // Closed already if it ended on its own or by its supervisor.
            world.evidence.end(run.evidence, at: now, completed: false)
            running[key] = nil
            self.end(key: key, item: run.item, record: run.record, end: end, now: now, startedAt: run.startedAt)
        }
    }

    private func end(key: RunKey, item: Item, record: RunRecord, end: AttemptEnd, now: Duration, startedAt: Duration) {
        var record = record
        record.output = world.output(of: record.taskID)
        let cancelled = machine.running[key]?.cancelled
        let actions = machine.runEnded(key)
        let dbNow = Date(timeIntervalSince1970: now.timeInterval + clockOffset)
        let result = AttemptResult(
            row: item.row, schedule: item.schedule, run: record, end: end, cancelled: cancelled,
            took: (now - startedAt).timeInterval, now: dbNow,
            jitter: Double.random(in: 0...1, using: &world.random), alerting: world.alerting)
        recorder.queueFinished(result.finished, now: world.now)
        world.trace("\(id) ended \(key) as \(result.finished.run.status)")
        perform(actions)
    }

    private func cancel(_ key: RunKey, _ reason: ExecutorMachine.CancelReason) {
        running[key]?.cancelled = reason
    }

    // MARK: Results

    /// The recorder's thread: the runtime's recorder machine, its store calls through the world.
    private func record(_ now: Duration) {
        for _ in 0..<16 {
            guard isFree(.recorder, world.now) else { return }
            switch recorder.next(now: world.now) {
            case .idle, .wait, .stopped:
                return
            case .write(let batch):
                let answer =
                    world.refusal(of: batch).map { .failure($0) }
                    ?? world.result(id) {
                        try world.store.record(batch)
                    }
                // A write may hang before it answers (or fails): meanwhile results are stuck.
                answerLater(.recorder, after: world.slowCallDelay()) { [self] in
                    _ = recorder.written(answer, now: world.now)
                }
            case .writeOutputsSoFar(let batch):
                _ = recorder.outputsSoFarWritten(world.result(id) { try world.store.record(batch) })
            case .probe:
                let answered = world.call(id) { try world.store.now() } != nil
                recorder.probed(answered: answered, now: world.now)
            case .abandon(let run, let reason):
                _ = recorder.abandoned(
                    world.result(id) { try world.store.abandonResult(run, reason: reason) }, now: world.now)
            case .readBack(let keys):
                _ = recorder.readBack(world.call(id) { try world.store.runHolders(keys) })
            }
        }
    }

    // MARK: Housekeeping

    private func housekeeping() {
        if let kills = world.call(id, { try world.store.killRequests(executor: id) }), !kills.isEmpty {
            perform(machine.killRequested(kills))
        }
        releaseOverdue()
        takeDueRetries()
        world.acting(id) { housekeeper.recoverExpired(alerting: world.alerting) }
        world.acting(id) { housekeeper.scheduleNewRows() }
        world.acting(id) { housekeeper.checkLateFires(world.alerting) }
        world.acting(id) { _ = dispatcher.deliverDue() }
        if world.random.chance(0.2) { world.pruneHistory(housekeeper, executor: id) }
    }

    /// As the runtime does: concurrent starts whose answer was lost are asked again.
    private func settleUncertainStarts() {
        for start in work.uncertainStarts {
            let answer: Result<ConcurrentStart, StoreError>
            do {
                answer = .success(
                    try world.callThrowing(id) {
                        try world.store.startConcurrentRun(
                            start.record, moveOn: start.moveOn, retrying: start.work.retrying)
                    })
            } catch {
                answer = .failure(error)
            }
            guard
                case .endAsNotRun(let start) = work.uncertainStartAnswered(
                    start.record.key, token: start.record.token, answer)
            else {
                continue
            }
            let dbNow = Date(timeIntervalSince1970: world.now.timeInterval + clockOffset)
            let result = AttemptResult(
                row: start.work.row, schedule: start.work.schedule, run: start.record,
                end: .notRun("its start could not be confirmed"), cancelled: nil, took: 0, now: dbNow,
                jitter: 0.5, alerting: world.alerting)
            recorder.queueFinished(result.finished, now: world.now)
            world.trace("\(id) settled an unconfirmed start of \(start.record.key)")
        }
    }

    /// As the runtime does: due retries of concurrent runs go to the queue, taken when they start.
    private func takeDueRetries() {
        guard work.wantsRetries(machine, now: world.now),
            let due = world.call(
                id,
                {
                    try world.store.dueRetries(
                        actions: actions, tags: tags, lookahead: .milliseconds(500),
                        limit: threads)
                })
        else { return }
        var retries: [Item] = []
        for retry in due {
            guard case .success(let schedule) = world.definitions.schedule(for: retry.row) else { continue }
            retries.append(
                Item(
                    row: retry.row, token: ClaimToken.random(using: &world.random), schedule: schedule,
                    due: .seconds(retry.retryAt.timeIntervalSince1970 - clockOffset), fireAt: retry.run.scheduled,
                    attempt: FirePlanner.following(retry.run.attempt), isDetached: true, retrying: retry.run,
                    confirmedAt: world.now, claimedAt: world.now))
        }
        work.queueRetries(retries)
    }

    /// As the runtime does: due work that waited too long for a free thread goes back.
    private func releaseOverdue() {
        let (keep, overdue) = work.overdue(ready, now: world.now)
        ready = keep
        giveBack(overdue)
    }

    // MARK: The machine's actions

    private func perform(_ actions: [ExecutorMachine.Action]) {
        for action in actions {
            switch action {
            case .cancel(let key, let reason):
                cancel(key, reason)
            case .fence:
                world.trace("\(id) fenced itself off")
                for key in running.keys.sorted() { cancel(key, .executorStopping) }
                work.dropHeldWork(ready: ready, because: .fence, executor: &machine)
                ready.removeAll()
            case .abandon:
                world.trace("\(id) lost its lease; abandons its work and registers again")
                for key in running.keys.sorted() { cancel(key, .executorStopping) }
                work.dropHeldWork(ready: ready, because: .abandon, executor: &machine)
                ready.removeAll()
                // Registers again at the next heartbeat (not while stopping).
                nextRenewal = world.now
            case .finishStop:
                break
            }
        }
    }

    // MARK: Process events

    /// SIGTERM.
    func terminate() {
        guard alive, !machine.isStopping else { return }
        world.trace("\(id) SIGTERM")
        let actions = machine.stop(now: world.now)
        let unstarted = work.stop() + WorkMachine.claims(of: ready)
        ready.removeAll()
        _ = world.call(id) { try world.store.setState(executor: id, .stopping) }
        giveBack(unstarted)
        perform(actions)
    }

    private func finishStop() {
        guard !exited else { return }
        // As the runtime's `recorder.stop`: what is queued is written, for up to its timeout; what
        // it cannot write by then is settled by the self-recovery or by the lease's end.
        let flush = stopFlush ?? (recorder.flushRequested(), world.now + .seconds(RunRecorder.stopTimeout))
        stopFlush = flush
        if !recorder.isWritten(flush.generation) && world.now < flush.deadline { return }
        recorder.stop()
        let recovered = world.call(id) {
            try world.store.recover(
                executor: id, reason: "the executor stopped", self: true, plan: housekeeper.interruptionPlan)
        }
        if recovered == nil { _ = world.call(id) { try world.store.setState(executor: id, .stopped) } }
        exited = true
        world.trace("\(id) exited")
    }

    /// kill -9: the process and its in-process handlers are gone; shell supervisors see it and
    /// end their commands.
    func crash() {
        guard alive else { return }
        alive = false
        for run in running.values.sorted(by: { $0.record.key < $1.record.key }) where !run.killedBySupervisor {
            world.evidence.crash(run.evidence, at: world.now)
        }
        running.removeAll()
        starting.removeAll()
        slowStarts.removeAll()
        world.trace("\(id) crashed")
    }

    var isGone: Bool { !alive || exited }

    /// Whether this executor still has `claim` in hand: waiting, running, or kept to be given
    /// back. A live executor's claim that is none of these is never freed (until it stops).
    func holds(_ claim: Claim) -> Bool {
        if work.holds(claim) || ready.contains(where: { !$0.isDetached && $0.claim == claim }) { return true }
        if blocked.values.contains(where: { $0.holds(claim) }) { return true }
        if running.values.contains(where: { !$0.item.isDetached && $0.item.claim == claim }) { return true }
        if machine.running.values.contains(where: { $0.claim == claim }) { return true }
        if starting.values.contains(where: { !$0.item.isDetached && $0.item.claim == claim }) { return true }
        if slowStarts.values.contains(where: { !$0.item.isDetached && $0.item.claim == claim }) { return true }
        // Ended, its row's change waiting for the recorder.
        if recorder.carries(claim) { return true }
        if let kept = machine.unreleased[claim.token] { return kept.map { $0.contains(claim.taskID) } ?? true }
        return false
    }

    /// What it has in hand, for a violation report.
    var whatItHolds: String {
        "idle \(work.idle.items.map { "\($0.row.id)/\($0.token.rawValue)" }) ready \(ready.map { "\($0.row.id)/\($0.token.rawValue)" }) blocked \(blocked.keys) running \(running.keys) unreleased \(machine.unreleased.keys.map(\.rawValue)) stopping \(machine.isStopping)"
    }

    var registration: ExecutorRegistration {
        ExecutorRegistration(
            id: id, host: "sim", pid: 1, threads: threads, tags: tags, actions: actions)
    }
}
