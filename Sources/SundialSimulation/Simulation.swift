import Foundation
import Logging
import SundialActions
import SundialAlerts
import SundialCore
import SundialExecutor
import SundialMemoryStore
import SundialSchedule

/// The outcome of one seed.
public struct SimulationReport: Sendable {
    public var seed: UInt64
    /// Empty when every invariant held.
    public var violations: [String]
    /// Every event, in order: the trace that reproduces a violation.
    public var trace: [String]
    public var executions: Int
    public var faults: Int

    public var passed: Bool { violations.isEmpty }
}

/// Several executors against the in-memory store on a virtual clock, with faults injected at
/// every step, deterministic for a seed: crash, SIGTERM, freeze past the lease, partition, writes
/// lost before or after they apply, conflicts, database clock steps, edits from outside.
///
/// Checked after every step: no task runs more often at once than its `max_concurrency`; no
/// `at_most_once` fire starts twice. Checked once everything has stopped: every claimed row is
/// free, every run row is final, `running` is zero, every `at_least_once` one-shot ran to its end,
/// every fire of an `at_least_once` recurring task (misfire `run_all`) ran to its end, every run
/// on record as failed has its alert, and every alert was delivered (at least once).
public final class Simulation {
    public let seed: UInt64
    public let settings: SimulationSettings

    public init(seed: UInt64, settings: SimulationSettings = SimulationSettings()) {
        self.seed = seed
        self.settings = settings
    }

    public func run() -> SimulationReport {
        let world = World(seed: seed, settings: settings)
        world.run()
        return SimulationReport(
            seed: seed, violations: world.evidence.violations, trace: world.traceLines,
            executions: world.evidence.executions.count, faults: world.faults)
    }
}

/// Everything one simulation holds.
final class World: @unchecked Sendable {
    let settings: SimulationSettings
    var random: SimulationRandom
    let clock: StoreClock
    let store: InMemoryStore
    let evidence = Evidence()
    let definitions: TaskDefinitions
    let logger = Logger(label: "sundial.sim", factory: { _ in SwiftLogNoOpLogHandler() })
    let origin = Date(timeIntervalSince1970: 1_800_000_000)
    private(set) var now: Duration = .zero
    /// Database time minus virtual time (moved by clock steps).
    private(set) var databaseOffset: Double
    private(set) var traceLines: [String] = []
    private(set) var faults = 0
    /// The executor in each slot (a slot is empty while its next process starts).
    private var slots: [Int: SimulatedExecutor] = [:]
    private var executors: [SimulatedExecutor] { slots.keys.sorted().compactMap { slots[$0] } }
    private var restarts: [(at: Duration, slot: Int)] = []
    private var nextExecutorNumber = 0
    /// Who makes the current store call, for partitions.
    private var actor: String?
    private var partitioned: [String: Duration] = [:]
    private var faultsOn = true
    /// When each task was edited from outside (their liveness is not checked).
    private var editTimes: [Int64: [Duration]] = [:]
    /// Tasks whose fires an edit planned afresh (resume, run now, a new schedule): a fire may
    /// then run past its attempts, as asked.
    private var replanned: Set<Int64> = []
    /// Runs whose start was sent to the store before its handler (durable and concurrent
    /// starts): an at_most_once attempt given up as lost must be one of them.
    var startsSentFirst: Set<RunKey> = []
    /// When a row was paused or deleted from outside (until it is resumed or run now): its
    /// claimed fires may not start after their last look.
    private(set) var stoppedAt: [Int64: Duration] = [:]
    private var durations: [Int64: Duration] = [:]
    private var reportedLeaks: Set<Claim> = []
    /// How often each task's runs fail (most never do).
    private var failureRates: [Int64: Double] = [:]
    /// Poison fires: every run of these tasks takes its executor's process down.
    private var poison: Set<Int64> = []
    /// Tasks whose results hold a value the store cannot hold: with their output only (false), or
    /// in every form (true).
    private var unstorable: [Int64: Bool] = [:]
    /// Each task's max_attempts as inserted (a deleted task's too).
    private var maxAttempts: [Int64: Int] = [:]
    /// Runs as they were when retention deleted them: the invariants judge the whole history.
    private var prunedRuns: [RunKey: RunRecord] = [:]
    /// History kept short, so that retention deletes runs while executors work.
    let retention: RetentionPolicy = {
        var policy = RetentionPolicy()
        policy.maxAge = .seconds(30)
        policy.keepPerTask = 4
        policy.executorAge = .seconds(5)
        return policy
    }()
    /// Every alert goes to one channel, without deduplication, so each can be accounted for.
    static let alertChannel = "sim"
    let alerting = AlertRouting(
        channels: [World.alertChannel: Set(AlertEvent.allCases)], defaults: [World.alertChannel],
        lateAfter: .seconds(5), dedupeWindow: .zero)
    /// Alerts the channel took, by id, and how many times.
    private(set) var deliveries: [Int64: Int] = [:]

    init(seed: UInt64, settings: SimulationSettings) {
        self.settings = settings
        random = SimulationRandom(seed: seed)
        databaseOffset = origin.timeIntervalSince1970
        clock = .manual(at: origin)
        store = InMemoryStore(clock: clock, idleTransactionTimeout: settings.idleTransactionTimeout)
        var handlers = HandlerRegistry(liveness: ShellLiveness())
        handlers.register("sim", SimulatedHandler())
        handlers.register(Self.rareAction, SimulatedHandler())
        definitions = TaskDefinitions(handlers: handlers)
        store.injectFaults { [unowned self] operation in self.fault(for: operation) }
    }

    func trace(_ line: String) {
        traceLines.append("\(String(format: "%9.3f", now.timeInterval)) \(line)")
    }

    // MARK: Store calls

    /// A store call made by `executor`: nil when it failed (already traced).
    func call<T>(_ executor: String, _ body: () throws -> T) -> T? {
        do {
            return try callThrowing(executor, body)
        } catch {
            return nil
        }
    }

    func callThrowing<T>(_ executor: String, _ body: () throws -> T) throws(StoreError) -> T {
        actor = executor
        defer { actor = nil }
        do {
            return try body()
        } catch let error as StoreError {
            if error.kind == .conflict && error.message.hasPrefix("Lock wait") {
                trace("\(executor): \(error.message)")
            }
            throw error
        } catch {
            throw StoreError(.unavailable, "\(error)")
        }
    }

    /// A store call's answer, a failure included.
    func result<T>(_ executor: String, _ body: () throws -> T) -> Result<T, StoreError> {
        do {
            return .success(try callThrowing(executor, body))
        } catch {
            return .failure(error)
        }
    }

    func acting(_ executor: String, _ body: () -> Void) {
        actor = executor
        defer { actor = nil }
        body()
    }

    private func fault(for operation: StoreOperation) -> StoreFault? {
        guard let actor else { return nil }
        if let until = partitioned[actor], now < until { return .unavailable }
        if faultsOn && operation.isTransaction && random.chance(settings.cutOffInTransactionRate) {
            faults += 1
            let length = settings.lease * Double.random(in: 0.3...2, using: &random)
            partitioned[actor] = now + length
            trace("fault: \(actor) cut off from the store for \(length) inside its \(operation) transaction")
            return .cutOffInTransaction
        }
        guard faultsOn, random.chance(settings.storeFaultRate * 4) else { return nil }
        faults += 1
        let kinds: [StoreFault] = [.unavailable, .conflict, .lostAnswer, .lostRequest]
        let fault = kinds.randomElement(using: &random)!
        trace("fault: \(actor) \(operation) → \(fault)")
        return fault
    }

    // MARK: The world

    /// Every run on record, and every run retention deleted, as it was then.
    var allRuns: [RunRecord] {
        let current = store.allRuns
        let kept = Set(current.map(\.key))
        return prunedRuns.values.filter { !kept.contains($0.key) }.sorted { $0.key < $1.key } + current
    }

    /// An executor's housekeeping prunes the history (with a short retention): what it deletes
    /// is remembered first.
    func pruneHistory(_ housekeeper: Housekeeper, executor: String) {
        for run in store.allRuns where run.status != .running { prunedRuns[run.key] = run }
        acting(executor) { housekeeper.pruneHistory(retention, batches: 1) }
    }

    /// Whether this run of the task kills the executor that starts it: every run of a poison
    /// task while faults last (then it is fixed, so that the quiet period can settle everything).
    func isPoison(_ task: Int64) -> Bool { faultsOn && poison.contains(task) }

    /// Time passing inside a store call made by an executor's leader, lease, recorder or pool thread
    /// (a slow statement, a lock wait, a dying link): the call takes effect at once and its
    /// answer arrives this much later; mostly under a second, now and then past the lease.
    /// Zero while faults are off.
    func slowCallDelay() -> Duration {
        guard faultsOn, random.chance(settings.slowCallRate) else { return .zero }
        faults += 1
        return random.chance(0.7)
            ? .milliseconds(Int64.random(in: 20...1_000, using: &random))
            : settings.lease * Double.random(in: 0.3...1.5, using: &random)
    }

    /// What output so far of a simulated run says.
    static let outputSoFar = "output so far at"

    /// The output a run of the task ends with: one the store refuses for an unstorable task.
    func output(of task: Int64) -> String? {
        faultsOn && unstorable[task] != nil ? "a value the store cannot hold" : nil
    }

    /// The store's refusal of a batch of results, as MySQL refuses a value its column cannot hold.
    func refusal(of batch: RunBatch) -> StoreError? {
        let refused = batch.finished.contains { finish in
            guard let everyForm = unstorable[finish.run.taskID] else { return false }
            return everyForm ? faultsOn : finish.run.output != nil
        }
        guard refused else { return nil }
        trace("the store refuses a batch of \(batch.count) results")
        return StoreError(.rejected, "a value the column cannot hold")
    }

    /// Whether this run of the task fails (decided by the seed).
    func failsThisTime(_ task: Int64) -> Bool {
        random.chance(failureRates[task] ?? 0)
    }

    /// The simulated channel's delivery: refused now and then while faults are on.
    func deliver(_ alert: Alert) throws(AlertDeliveryError) {
        if faultsOn && random.chance(0.2) {
            trace("alert \(alert.id) refused by the channel")
            throw AlertDeliveryError("the simulated receiver refused")
        }
        deliveries[alert.id, default: 0] += 1
        trace("alert \(alert.id) \(alert.draft.event.rawValue) delivered (\(alert.draft.subject))")
    }

    func duration(of row: TaskRow) -> Duration {
        let base = durations[row.id] ?? .milliseconds(100)
        return base * Double.random(in: 0.5...1.5, using: &random)
    }

    private func makeTasks() {
        let count = Int.random(in: 6...14, using: &random)
        for i in 0..<count {
            var row = TaskRow(id: 0, name: "task-\(i)", action: "sim")
            row.delivery = random.chance(0.3) ? .atMostOnce : .atLeastOnce
            if random.chance(0.15) { row.action = Self.rareAction }
            if random.chance(0.15) { row.tags = Self.rareTag }
            row.maxAttempts = Int.random(in: 1...2, using: &random)
            row.backoffSeconds = 0.2
            let kind = Int.random(in: 0..<10, using: &random)
            var duration = Duration.milliseconds(Int64.random(in: 20...800, using: &random))
            switch kind {
            case 0..<4:  // one-shot, due now or soon
                row.schedule =
                    random.chance(0.5)
                    ? nil
                    : "@at \(RFC3339.format(origin.addingTimeInterval(Double.random(in: 0...20, using: &random))))"
                if random.chance(0.2) { duration = .seconds(Double.random(in: 5...14, using: &random)) }
            case 4..<8:  // recurring, every 1-4 s, catching up every missed fire
                let every = Int.random(in: 1...4, using: &random)
                row.schedule = "@every \(every)s"
                row.misfirePolicy = .runAll
                duration = .milliseconds(Int64.random(in: 20...Int64(every * 400), using: &random))
            default:  // recurring, several runs at once (busy enough without failure retries)
                row.schedule = "@every 1s"
                row.maxConcurrency = 2
                row.maxAttempts = 1
                row.misfirePolicy = random.chance(0.5) ? .runAll : .skip
                duration = .milliseconds(Int64.random(in: 300...1_200, using: &random))
            }
            let plan: FirePlanner.Plan
            switch definitions.schedule(for: row) {
            case .success(let schedule): plan = FirePlanner(row: row, schedule: schedule).firstFire(now: origin)
            case .failure(let invalid): fatalError("the simulation made an invalid task: \(invalid.message)")
            }
            // Half the one-shots inserted as a user's SQL does: no next_run (the claim gives them
            // their fire time).
            if row.schedule != nil || random.chance(0.5) {
                row.nextRun = plan.nextRun
                row.fireAt = plan.fireAt
            }
            // Some runs outlast their timeout: the executor cuts them short (`timed_out`).
            if random.chance(0.15) { row.timeoutSeconds = max(0.05, duration.timeInterval * 0.9) }
            let id = store.insertRaw(row)
            durations[id] = duration
            maxAttempts[id] = row.maxAttempts
            if random.chance(0.3) { failureRates[id] = 0.5 }
            trace(
                "task \(id): \(row.schedule ?? "once") \(row.delivery.rawValue) concurrency \(row.maxConcurrency) attempts \(row.maxAttempts) ~\(duration)\(row.nextRun == nil ? " next_run NULL" : "")\(row.action == Self.rareAction ? " action \(row.action)" : "")\(row.tags.map { " tags \($0)" } ?? "")\(row.timeoutSeconds.map { $0 < 3600 ? " timeout \($0)s" : "" } ?? "")"
            )
        }
        // In some worlds one task is a poison fire: whoever starts it dies.
        if random.chance(0.4), let task = store.allTasks.randomElement(using: &random) {
            poison.insert(task.id)
            trace("task \(task.id) is poison: every run kills its executor while faults last")
        }
        // In some, one task's results hold a value the store refuses (while faults last): the
        // recorder must isolate it and write the others.
        if random.chance(0.3), let task = store.allTasks.randomElement(using: &random) {
            let everyForm = random.chance(0.3)
            unstorable[task.id] = everyForm
            trace("task \(task.id)'s results are refused\(everyForm ? " in every form" : " with their output")")
        }
    }

    /// An action only even slots' executors run, and the tag only they carry: a task with either
    /// waits for one of them, whoever else is free.
    static let rareAction = "sim-rare"
    static let rareTag = "blue"

    private func startExecutor(slot: Int) {
        nextExecutorNumber += 1
        slots[slot] = nil
        let even = slot % 2 == 0
        if let executor = SimulatedExecutor(
            id: "e\(nextExecutorNumber)", world: self,
            actions: even ? definitions.handlers.actions : ["sim"], tags: even ? [Self.rareTag] : [])
        {
            slots[slot] = executor
        } else {
            // Could not register (a fault): try again shortly.
            restarts.append((now + .milliseconds(300), slot))
        }
    }

    func run() {
        makeTasks()
        for slot in 0..<settings.executors { startExecutor(slot: slot) }
        let faultyEnd = Duration.seconds(settings.faultySeconds)
        let quietEnd = faultyEnd + .seconds(settings.quietSeconds)
        let stepSeconds = settings.step.timeInterval
        while now < quietEnd {
            if now >= faultyEnd && faultsOn {
                faultsOn = false
                partitioned.removeAll()
                for executor in executors { executor.frozenUntil = nil }
                trace("faults end")
            }
            if faultsOn { injectProcessFaults(stepSeconds) }
            restartGoneExecutors()
            for executor in executors.shuffled(using: &random) { executor.step() }
            checkClaimsAreHeld()
            advance()
        }
        // Everything stops: SIGTERM, then wait for every executor to exit.
        trace("stopping every executor")
        for executor in executors { executor.terminate() }
        let deadline = now + settings.shutdownGrace + .seconds(20)
        while now < deadline && executors.contains(where: { !$0.isGone }) {
            for executor in executors.shuffled(using: &random) { executor.step() }
            advance()
        }
        checkEnd(stoppedAt: quietEnd)
    }

    private func advance() {
        now += settings.step
        clock.set(Date(timeIntervalSince1970: now.timeInterval + databaseOffset))
    }

    private func restartGoneExecutors() {
        for (slot, executor) in slots.sorted(by: { $0.key < $1.key })
        where executor.isGone && !restarts.contains(where: { $0.slot == slot }) {
            restarts.append((now + .milliseconds(Int64.random(in: 0...3_000, using: &random)), slot))
        }
        let due = restarts.filter { $0.at <= now }
        restarts.removeAll { $0.at <= now }
        for restart in due { startExecutor(slot: restart.slot) }
    }

    private func injectProcessFaults(_ stepSeconds: Double) {
        for executor in executors where !executor.isGone {
            if random.chance(settings.crashRate * stepSeconds) {
                faults += 1
                executor.crash()
            } else if random.chance(settings.stopRate * stepSeconds) {
                faults += 1
                executor.terminate()
            } else if random.chance(settings.freezeRate * stepSeconds) && !executor.isFrozen {
                faults += 1
                let length = settings.lease * Double.random(in: 0.5...2, using: &random)
                executor.frozenUntil = now + length
                trace("\(executor.id) frozen for \(length)")
            } else if random.chance(settings.partitionRate * stepSeconds) {
                faults += 1
                let length = settings.lease * Double.random(in: 0.3...2, using: &random)
                partitioned[executor.id] = now + length
                trace("\(executor.id) cut off from the store for \(length)")
            }
        }
        if random.chance(settings.clockStepRate * stepSeconds) {
            faults += 1
            let step = settings.lease.timeInterval * Double.random(in: -0.15...0.15, using: &random)
            databaseOffset += step
            trace("database clock steps by \(step) s")
        }
        if random.chance(settings.editRate * stepSeconds) { editFromOutside() }
    }

    /// What a person does through the console or SQL while executors run.
    private func editFromOutside() {
        let tasks = store.allTasks
        guard let task = tasks.randomElement(using: &random) else { return }
        faults += 1
        editTimes[task.id, default: []].append(now)
        let choice = Int.random(in: 0..<7, using: &random)
        switch choice {
        case 0:
            if (try? store.changeStatus(taskID: task.id, from: [.active], to: .paused, plan: nil)) == true {
                stoppedAt[task.id] = now
            }
        case 1:
            replanned.insert(task.id)
            let plan = FirePlanner(row: task, schedule: try? definitions.schedule(for: task).get()).firstFire(
                now: clock.now)
            if (try? store.changeStatus(taskID: task.id, from: [.paused], to: plan.status, plan: plan)) == true {
                stoppedAt[task.id] = nil
            }
        case 2: if (try? store.delete(taskID: task.id)) == true { stoppedAt[task.id] = now }
        case 3:
            replanned.insert(task.id)
            if (try? store.runNow(taskID: task.id, requester: "simulation")) == true { stoppedAt[task.id] = nil }
        case 4: _ = try? store.requestKill(taskID: task.id)
        case 5:
            replanned.insert(task.id)
            store.edit(taskID: task.id) { $0.schedule = "@every 3s" }
        default: updateFromConsole(task)
        }
        trace("outside edit \(choice) on task \(task.id)")
    }

    /// Settings changed through the console (`TaskCatalog.update`), whether its row is claimed
    /// or not: a new schedule now and then (planned afresh), other limits otherwise.
    private func updateFromConsole(_ task: TaskRow) {
        var settings = NewTask(settingsOf: task, name: task.name)
        if task.schedule != nil && random.chance(0.3) { settings.schedule = "@every 2s" }
        // Planned afresh, as the console does, for a new schedule or a task that no longer runs.
        if settings.schedule != task.schedule || [.invalid, .done, .dead].contains(task.status) {
            replanned.insert(task.id)
        }
        settings.maxConcurrency = Int.random(in: 1...2, using: &random)
        settings.maxAttempts = Int.random(in: 1...3, using: &random)
        if random.chance(0.3) { settings.delivery = task.delivery == .atMostOnce ? .atLeastOnce : .atMostOnce }
        do {
            try TaskAdmin(store: store, definitions: definitions).update(task.name, to: settings)
            maxAttempts[task.id] = max(maxAttempts[task.id] ?? 1, settings.maxAttempts ?? 1)
            trace(
                "console update of task \(task.id): \(settings.schedule ?? "once") concurrency \(settings.maxConcurrency ?? 1) attempts \(settings.maxAttempts ?? 1) \(settings.delivery?.rawValue ?? "")"
            )
        } catch {
            trace("console update of task \(task.id) refused: \(error)")
        }
    }

    /// At every step, a row claimed by a live executor is in that executor's hands: a claim it
    /// has dropped would stay claimed, and its task stalled, for as long as the process lives.
    private func checkClaimsAreHeld() {
        let live = Dictionary(uniqueKeysWithValues: executors.filter { !$0.isGone }.map { ($0.id, $0) })
        for row in store.allTasks {
            guard let token = row.claimToken, let holder = row.claimedBy.flatMap({ live[$0] }) else { continue }
            let claim = Claim(taskID: row.id, token: token)
            if !holder.holds(claim) && !reportedLeaks.contains(claim) {
                reportedLeaks.insert(claim)
                evidence.violation(
                    "at \(now): task \(row.id) is claimed by \(holder.id), which no longer holds the claim \(token.rawValue) [\(holder.whatItHolds)]"
                )
            }
        }
    }

    // MARK: The end

    /// When a task that is still behind sat idle, without a run that reached its end, for more
    /// than `allowance` (2 s: a poll, a backoff and a write, with room to spare) after every lost
    /// executor's work was recovered (the longest lease and freeze after the faults' end) and
    /// before `horizon`; nil if it ran back to back. `counting` says which executions count
    /// (those that reached their end, unless told otherwise).
    private func idleWhileBehind(
        _ task: Int64, until horizon: Duration, allowance: Duration = .seconds(2),
        counting: (Evidence.Execution) -> Bool = \.completed
    ) -> Duration? {
        let settled = .seconds(settings.faultySeconds) + settings.lease * 2.5
        var free = settled
        for execution in evidence.executions(of: task).sorted(by: { $0.start < $1.start }) where counting(execution) {
            guard execution.start <= horizon else { break }
            let end = execution.end ?? horizon
            guard end > settled else { continue }
            if execution.start - free > allowance { return free }
            free = max(free, end)
        }
        return horizon - free > allowance ? free : nil
    }

    private func checkEnd(stoppedAt: Duration) {
        if let alive = executors.first(where: { !$0.isGone }) {
            evidence.violation("\(alive.id) did not exit after SIGTERM")
        }
        for row in store.allTasks {
            if row.claimToken != nil {
                evidence.violation(
                    "task \(row.id) is still claimed by \(row.claimedBy ?? "?") after every executor stopped")
            }
            if row.running != 0 {
                evidence.violation("task \(row.id) counts \(row.running) runs in flight after every executor stopped")
            }
            // Only a result the store takes in no form costs its task: one refused with its
            // output is written without it.
            if row.status == .invalid, row.error?.hasPrefix("the result could not be stored") == true,
                unstorable[row.id] != true
            {
                evidence.violation("task \(row.id) was marked invalid for a result the store would have taken")
            }
        }
        // Everything has stopped: the history no longer changes.
        let runs = allRuns
        for run in runs where run.status == .running {
            evidence.violation("run \(run.key) is still `running` after every executor stopped")
        }
        // Output so far is written only while its run runs: a result is never overwritten by it
        // (a run ended as lost by recovery keeps what it had).
        for run in runs
        where run.status != .running && run.status != .lost
            && run.output?.hasPrefix(Self.outputSoFar) == true
        {
            evidence.violation("run \(run.key) ended as \(run.status), and output so far was written over its result")
        }
        checkAlerts(settledBy: origin.addingTimeInterval((stoppedAt - .seconds(5)).timeInterval))
        let active = Set(store.allTasks.filter { $0.status == .active && editTimes[$0.id] == nil }.map(\.id))
        let lastCall = origin.addingTimeInterval((stoppedAt - .seconds(5)).timeInterval)
        for run in runs where (run.retryAt.map { $0 < lastCall } ?? false) && active.contains(run.taskID) {
            evidence.violation("the retry of run \(run.key) was never taken")
        }
        checkLostExecutors(runs: runs)
        // Liveness: at_least_once work that nobody touched ran to its end, unless its executors
        // were lost during as many attempts as it may use (then it was given up, on record).
        let horizon = origin.addingTimeInterval((stoppedAt - .seconds(8)).timeInterval)
        for row in store.allTasks
        where editTimes[row.id] == nil && row.delivery == .atLeastOnce && !poison.contains(row.id)
            && unstorable[row.id] != true
        {
            let completed = evidence.completedFires(of: row.id).union(givenUpFires(of: row, in: runs))
            guard let text = row.schedule, !text.isEmpty, let schedule = try? definitions.schedule(for: row).get()
            else {
                if row.schedule == nil && completed.isEmpty {
                    evidence.violation("at_least_once one-shot task \(row.id) never ran to its end")
                }
                continue
            }
            if case .once = schedule.kind {
                if completed.isEmpty {
                    evidence.violation("at_least_once one-shot task \(row.id) never ran to its end")
                }
                continue
            }
            guard row.misfirePolicy == .runAll else {
                // Skip and run_once may drop the fires they fell behind on, never the task: once
                // everything lost was recovered, it fires again within a period of its last run
                // (cut short by its timeout or not), a poll and a write.
                let period = schedule.next(after: origin).flatMap { first in
                    schedule.anchored(at: first).next(after: first).map { $0.timeIntervalSince(first) }
                }
                if let period,
                    let idle = idleWhileBehind(
                        row.id, until: stoppedAt - .seconds(8), allowance: .seconds(period + 2), counting: { _ in true }
                    )
                {
                    evidence.violation(
                        "at_least_once task \(row.id) (\(text), \(row.misfirePolicy.rawValue)) did not fire from \(idle) once its work was recovered"
                    )
                }
                continue
            }
            // A task that fell behind catches up one fire at a time: no fire may be skipped up to
            // the latest that ran, and the task must have caught up past the faults.
            guard let latest = completed.max() else {
                evidence.violation("at_least_once task \(row.id) (\(text)) never ran to its end")
                continue
            }
            let faultsEnded = origin.addingTimeInterval(settings.faultySeconds)
            if latest < faultsEnded, let idle = idleWhileBehind(row.id, until: stoppedAt - .seconds(8)) {
                // Still behind: fine while it runs back to back (a task cannot run faster than
                // one fire at a time), not if it sat idle once all lost work had been recovered.
                evidence.violation(
                    "at_least_once task \(row.id) (\(text)) stalled: its latest fire that ran is \(latest), before the faults ended, and it did not run from \(idle)"
                )
            }
            var fire = schedule.next(after: origin)
            while let at = fire, at <= min(horizon, latest) {
                if !completed.contains(at) {
                    evidence.violation(
                        "task \(row.id) (\(text), at_least_once, run_all): the fire at \(at) never ran to its end")
                    break
                }
                fire = schedule.anchored(at: at).next(after: at)
            }
        }
        checkAtMostOnceFires(horizon: horizon)
    }

    /// Fires of `row` given up after their executor was lost, as at_least_once allows: at the
    /// end of the fire's attempts, and not at its first loss.
    private func givenUpFires(of row: TaskRow, in runs: [RunRecord]) -> Set<Date> {
        let lost = runs.filter { $0.taskID == row.id && $0.status == .lost }
        // Cut short by its timeout at its last attempt: ended as the task's timeout says.
        let timedOut = runs.filter {
            $0.taskID == row.id && $0.status == .timedOut && FirePlanner.following($0.attempt) >= row.maxAttempts
        }
        return Set(
            lost.filter { last in
                FirePlanner.following(last.attempt) >= row.maxAttempts
                    && lost.contains { $0.scheduledFor == last.scheduledFor && $0.attempt < last.attempt }
            }.map(\.scheduledFor) + timedOut.map(\.scheduledFor))
    }

    /// A fire kills (or is lost with) its executors at most `lostAttemptsAllowed` times, a poison
    /// fire included; a one-shot has one fire, whoever claims it (a row inserted without
    /// next_run too); an at_most_once fire lost with its executor never runs again; every
    /// execution has its run row, under its own claim, once its executor has stopped or been
    /// recovered.
    private func checkLostExecutors(runs: [RunRecord]) {
        let tasks = store.allTasks
        let executions = Dictionary(grouping: evidence.executions, by: \.task)
        let lostRuns = Dictionary(grouping: runs.filter { $0.status == .lost }, by: \.taskID)
        for row in tasks where !replanned.contains(row.id) {
            // Edited tasks too (their limits changed, not their fires): by the most attempts
            // they ever had.
            let ran = executions[row.id] ?? []
            let allowed =
                editTimes[row.id] == nil
                ? FirePlanner.lostAttemptsAllowed(row)
                : max(2, maxAttempts[row.id] ?? 1, FirePlanner.lostAttemptsAllowed(row))
            let crashes = Dictionary(grouping: ran.filter(\.crashedExecutor), by: \.fire)
            for (fire, crashed) in crashes.sorted(by: { $0.key < $1.key }) where crashed.count > allowed {
                evidence.violation(
                    "task \(row.id)'s fire \(fire) took down its executor \(crashed.count) times (\(crashed.map(\.executor))), more than the \(allowed) its max_attempts \(row.maxAttempts) allows\(poison.contains(row.id) ? " (poison)" : "")"
                )
            }
        }
        for row in tasks where editTimes[row.id] == nil {
            let ran = executions[row.id] ?? []
            if row.schedule == nil {
                let fires = Set(ran.map(\.fire))
                if fires.count > 1 {
                    evidence.violation(
                        "one-shot task \(row.id) ran under \(fires.count) different fire times: \(fires.sorted())")
                }
            }
            guard row.delivery == .atMostOnce else { continue }
            // A lost attempt whose handler started: it may have done its work, so its fire must
            // never run again. (A durable start that reached the store after its thread had given
            // up waiting is on record, then lost, without having run: its fire may run.)
            // Given up as lost only when its start was on record before its handler could run
            // (otherwise recovery knows it never started, and frees it to run).
            for run in lostRuns[row.id] ?? [] where !startsSentFirst.contains(run.key) {
                evidence.violation(
                    "at_most_once task \(row.id)'s attempt \(run.key) was given up as lost, though its start was never sent to the store"
                )
            }
            for run in lostRuns[row.id] ?? []
            where ran.contains(where: { $0.fire == run.scheduledFor && $0.attempt == run.attempt }) {
                if let again = ran.first(where: { $0.fire == run.scheduledFor && $0.attempt > run.attempt }) {
                    evidence.violation(
                        "at_most_once task \(row.id)'s fire \(run.scheduledFor) ran again (attempt \(again.attempt), \(again.executor)) after attempt \(run.attempt) was lost with its executor"
                    )
                }
            }
        }
        let byKey = Dictionary(runs.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let existing = Set(tasks.map(\.id))
        for execution in evidence.executions {
            let key = RunKey(task: execution.task, scheduled: execution.fire, attempt: execution.attempt)
            guard let run = byKey[key] else {
                // An executor that died before writing the start leaves its run to recovery, which
                // writes it for the fire and attempt its claim took, whatever an edit made since.
                if existing.contains(execution.task) {
                    evidence.violation("the execution of \(key) by \(execution.executor) has no run row")
                }
                continue
            }
            // (A deleted task's history is not judged: a late write of a claim recovery took may
            // land there, after retention deleted the fire's own run.)
            if existing.contains(execution.task) && (run.executor != execution.executor || run.token != execution.token)
            {
                evidence.violation(
                    "the execution of \(key) by \(execution.executor) under \(execution.token.rawValue) is on record as \(run.executor)'s under \(run.token.rawValue) (\(run.status))"
                )
            }
        }
    }

    /// An `at_most_once` fire may go unrun only when nobody can know whether it ran: its start is
    /// on record and its executor was lost before its end (recovery ends it as `lost`). A fire
    /// whose handler never started is tried again; so every fire of an untouched recurring
    /// `run_all` task up to the latest that started either started or is on record as lost.
    private func checkAtMostOnceFires(horizon: Date) {
        for row in store.allTasks
        where editTimes[row.id] == nil && row.delivery == .atMostOnce && row.misfirePolicy == .runAll {
            guard let schedule = try? definitions.schedule(for: row).get(), schedule.isRecurring,
                let latest = evidence.executions(of: row.id).map(\.fire).max()
            else { continue }
            let started = Set(evidence.executions(of: row.id).map(\.fire))
            let givenUp = Set(allRuns.filter { $0.taskID == row.id && $0.status == .lost }.map(\.scheduledFor))
            var fire = schedule.next(after: origin)
            while let at = fire, at <= min(horizon, latest) {
                if !started.contains(at) && !givenUp.contains(at) {
                    evidence.violation(
                        "task \(row.id) (\(row.schedule ?? ""), at_most_once, run_all): the fire at \(at) never started and is not on record as lost"
                    )
                    break
                }
                fire = schedule.anchored(at: at).next(after: at)
            }
        }
    }
}

extension World {
    /// A failed run on record has its alert on record; every alert raised before `settledBy`
    /// reached the channel (later ones wait in the table for the next executor to start).
    fileprivate func checkAlerts(settledBy: Date) {
        guard let alerts = try? store.alerts(limit: Int.max) else {
            evidence.violation("the alerts could not be read")
            return
        }
        let aboutRuns = Set(
            alerts.filter { $0.draft.event == .failed || $0.draft.event == .dead }.compactMap(\.draft.run))
        // A failure is news once its fire has no attempt left (earlier ones are retried).
        for run in allRuns
        where run.status == .failed && !aboutRuns.contains(run.key)
            && FirePlanner.following(run.attempt) >= (maxAttempts[run.taskID] ?? 1)
        {
            let raised = alerts.filter { $0.draft.taskID == run.taskID }.map {
                "\($0.draft.event.rawValue) \($0.draft.run.map { "\($0)" } ?? "-")"
            }
            evidence.violation(
                "run \(run.key) is on record as failed, and no alert was raised for it (the task's: \(raised))")
        }
        // Every attempt cut short by its timeout says so.
        let timedOut = Set(alerts.filter { $0.draft.event == .timedOut }.compactMap(\.draft.run))
        for run in allRuns where run.status == .timedOut && !timedOut.contains(run.key) {
            evidence.violation("run \(run.key) is on record as timed out, and no timed_out alert was raised for it")
        }
        for alert in alerts {
            if alert.status != .delivered && alert.createdAt < settledBy {
                evidence.violation(
                    "alert \(alert.id) (\(alert.draft.event.rawValue), \(alert.draft.subject)) is \(alert.status.rawValue) after everything stopped: \(alert.error ?? "")"
                )
            } else if alert.status == .delivered && deliveries[alert.id] == nil {
                evidence.violation("alert \(alert.id) is on record as delivered but the channel never took it")
            }
        }
    }
}

/// The alert channel of the simulation: the world decides each delivery.
struct SimulatedChannel: AlertChannel, @unchecked Sendable {
    let world: World
    let settings = ChannelSettings(
        name: World.alertChannel, kind: .command("simulated"), events: Set(AlertEvent.allCases), timeout: .seconds(1),
        attempts: 1_000)

    func deliver(_ message: AlertMessage) throws(AlertDeliveryError) {
        try world.deliver(message.alert)
    }
}

/// The action the simulated tasks name; the simulator runs them on its own clock, never this.
struct SimulatedHandler: TaskHandler {
    func validate(payload: Data) throws {}
    func run(_ context: RunContext) throws -> RunOutput { RunOutput() }
}
