import Foundation
import Testing

@testable import SundialCore

/// The recorder's decisions one by one, driven as its thread drives it, against a scripted store.
@Suite struct RecorderMachineTests {
    typealias Step = RecorderMachine.Step

    static let at = Date(timeIntervalSince1970: 1_800_000_000)

    static func start(_ task: Int64, token: Int64 = 1, output: String? = nil) -> RunRecord {
        var run = RunRecord(
            taskID: task, token: ClaimToken(token), scheduledFor: at, attempt: 0, executor: "e", startedAt: at,
            status: .running)
        run.output = output
        return run
    }

    /// An attempt that held its row, so that its row's claim goes with its result.
    static func end(_ task: Int64, output: String = "fine") -> FinishedRun {
        var run = start(task, output: output)
        run.status = .succeeded
        run.finishedAt = at
        let plan = FirePlanner.Plan(status: .active, nextRun: at + 60, fireAt: nil, attempt: 0, error: nil)
        let finish = RowFinish(
            claim: Claim(taskID: task, token: ClaimToken(1)), plan: plan,
            claimed: ClaimedState(schedule: "@every 60s", timezone: "UTC", nextRun: at, version: nil))
        return FinishedRun(run: run, row: finish)
    }

    /// A store for the machine's steps: each answer from the script, every step kept.
    struct Store {
        var record: (RunBatch) -> Result<Void, StoreError> = { _ in .success(()) }
        var answers: () -> Bool = { true }
        var abandon: (FinishedRun) -> Result<Void, StoreError> = { _ in .success(()) }
        var holders: ([RunKey]) -> [RunKey: ClaimToken]? = { keys in
            Dictionary(uniqueKeysWithValues: keys.map { ($0, ClaimToken(1)) })
        }
        var steps: [Step] = []
        var notices: [RecorderMachine.Notice] = []

        /// Carries out steps until the machine waits for work or stops (waits pass at once, up
        /// to `until`): returns the time reached.
        mutating func drive(_ machine: inout RecorderMachine, from start: Duration, until: Duration = .seconds(3600))
            -> Duration
        {
            var now = start
            while true {
                let step = machine.next(now: now)
                steps.append(step)
                switch step {
                case .idle, .stopped: return now
                case .wait(let when):
                    guard when <= until else { return now }
                    now = when
                case .write(let batch): notices += machine.written(record(batch), now: now)
                case .probe: machine.probed(answered: answers(), now: now)
                case .abandon(let run, _): notices += machine.abandoned(abandon(run), now: now)
                case .readBack(let keys): notices += machine.readBack(holders(keys))
                case .writeOutputsSoFar(let batch): notices += machine.outputsSoFarWritten(record(batch))
                }
            }
        }

        var writes: [RunBatch] {
            steps.compactMap { if case .write(let batch) = $0 { batch } else { nil } }
        }
    }

    /// The thread is woken by the first result of a batch and by a durable start, not by every
    /// result (a busy second's thousand starts would each pay for it).
    @Test func onlyTheFirstResultOfABatchOrADurableStartWakesTheRecorder() {
        var machine = RecorderMachine()
        let first = machine.queueStarted(Self.start(1), durable: false, now: .zero).wake
        let second = machine.queueStarted(Self.start(2), durable: false, now: .zero).wake
        let ended = machine.queueFinished(Self.end(3), now: .zero)
        let durable = machine.queueStarted(Self.start(4), durable: true, now: .zero).wake
        #expect(first)
        #expect(!second)
        #expect(!ended)
        #expect(durable)
    }

    @Test func resultsQueuedWithinTheBatchingPauseAreOneWrite() {
        var machine = RecorderMachine()
        machine.queueStarted(Self.start(1), durable: false, now: .zero)
        let step = machine.next(now: .milliseconds(10))
        #expect(step == .wait(until: .milliseconds(50)))
        machine.queueFinished(Self.end(2), now: .milliseconds(30))
        let generation = machine.flushRequested()
        var store = Store()
        _ = store.drive(&machine, from: .milliseconds(30))
        #expect(store.writes == [RunBatch(started: [Self.start(1)], finished: [Self.end(2)])])
        #expect(machine.isWritten(generation))
        #expect(machine.queued == 0)
    }

    @Test func aDurableStartSkipsThePauseAndIsConfirmedOnlyUnderItsOwnToken() {
        var machine = RecorderMachine()
        let generation = machine.queueStarted(Self.start(1, token: 1), durable: true, now: .zero).generation
        machine.queueStarted(Self.start(2, token: 2), durable: true, now: .zero)
        // Written at once, without the batching pause.
        let first = machine.next(now: .zero)
        #expect(first == .write(RunBatch(started: [Self.start(1, token: 1), Self.start(2, token: 2)])))
        var store = Store()
        // Task 2's attempt is on record under another claim (its start written late): the store
        // answers token 1 for every key.
        _ = machine.written(.success(()), now: .zero)
        _ = store.drive(&machine, from: .zero)
        #expect(store.steps.first == .readBack([Self.start(1).key, Self.start(2).key]))
        #expect(machine.isWritten(generation))
        let mine = machine.settleDurableStart(Self.start(1).key)
        #expect(mine)
        let theirs = machine.settleDurableStart(Self.start(2).key)
        #expect(!theirs)
    }

    @Test func aDurableStartWhoseWaiterGaveUpIsNotConfirmedLater() {
        var machine = RecorderMachine()
        machine.queueStarted(Self.start(1), durable: true, now: .zero)
        let confirmed = machine.settleDurableStart(Self.start(1).key)
        #expect(!confirmed)
        var store = Store()
        _ = store.drive(&machine, from: .zero)
        let confirmedLater = machine.settleDurableStart(Self.start(1).key)
        #expect(!confirmedLater)
    }

    @Test func startsThatCannotBeReadBackAreNotConfirmed() {
        var machine = RecorderMachine()
        let generation = machine.queueStarted(Self.start(1), durable: true, now: .zero).generation
        var store = Store()
        store.holders = { _ in nil }
        _ = store.drive(&machine, from: .zero)
        #expect(machine.isWritten(generation))
        let confirmed = machine.settleDurableStart(Self.start(1).key)
        #expect(!confirmed)
        #expect(store.notices == [.startsUnconfirmed(count: 1)])
    }

    /// One value the store cannot hold never holds back the others: the batch is split until it
    /// is alone, and it is written without the value, with the reason (still a success).
    @Test(arguments: [StoreError.Kind.rejected, .invalid])
    func aRefusedValueIsIsolatedAndWrittenWithoutIt(refusal: StoreError.Kind) {
        var machine = RecorderMachine()
        for task: Int64 in 0..<20 {
            machine.queueFinished(Self.end(task, output: task == 13 ? "poison" : "fine"), now: .zero)
        }
        _ = machine.flushRequested()
        var store = Store()
        var stored: [FinishedRun] = []
        store.record = { batch in
            if batch.finished.contains(where: { $0.run.output == "poison" }) {
                return .failure(StoreError(refusal, "too long"))
            }
            stored += batch.finished
            return .success(())
        }
        _ = store.drive(&machine, from: .zero)
        #expect(stored.count == 20)
        let poison = stored.first { $0.run.taskID == 13 }
        #expect(poison?.run.status == .succeeded)
        #expect(poison?.run.output == nil)
        #expect(poison?.run.error?.contains("too long") == true)
        #expect(poison?.row?.plan == Self.end(13).row?.plan)
        #expect(stored.filter { $0.run.output == "fine" }.count == 19)
        #expect(store.notices == [.refused(StoreError(refusal, "too long"))])
    }

    /// No form of the result is taken: it is abandoned (its task marked invalid) rather than left
    /// holding its row, and a transient failure of that is repeated.
    @Test func aResultRefusedInEveryFormIsAbandoned() {
        var machine = RecorderMachine()
        machine.queueFinished(Self.end(7), now: .zero)
        var store = Store()
        store.record = { _ in .failure(StoreError(.rejected, "no")) }
        var freeing = 0
        store.abandon = { _ in
            freeing += 1
            return freeing == 1 ? .failure(StoreError(.unavailable, "down")) : .success(())
        }
        let end = store.drive(&machine, from: .zero)
        let marked = store.steps.filter {
            if case .abandon(let finished, _) = $0 { finished.run.taskID == 7 } else { false }
        }
        #expect(marked.count == 2)
        #expect(store.notices == [.refused(StoreError(.rejected, "no")), .unstorable(StoreError(.rejected, "no"))])
        #expect(machine.stalledFor(at: end) == nil)
        #expect(!machine.carries(Claim(taskID: 7, token: ClaimToken(1))))
    }

    /// A store that cannot be reached: the batch is kept whole and written again, with pauses
    /// that grow; results are stuck meanwhile, and not after.
    @Test func aFailingStoreGetsTheBatchWholeWhenItAnswersAgain() {
        var machine = RecorderMachine()
        for task: Int64 in 0..<4 { machine.queueFinished(Self.end(task), now: .zero) }
        let generation = machine.flushRequested()
        var store = Store()
        var tries = 0
        store.record = { _ in
            tries += 1
            return tries <= 4 ? .failure(StoreError(.conflict, "lock wait")) : .success(())
        }
        // Until the third failure's pause.
        let paused = store.drive(&machine, from: .zero, until: .milliseconds(300))
        #expect(!machine.isWritten(generation))
        #expect(machine.carries(Claim(taskID: 2, token: ClaimToken(1))))
        #expect(machine.stalledFor(at: paused + .seconds(1)) != nil)
        let end = store.drive(&machine, from: paused)
        #expect(machine.isWritten(generation))
        #expect(store.writes.count == 5)
        #expect(store.writes.allSatisfy { $0.finished.count == 4 })
        // Pauses of 100, 200, 300, 400 ms between tries.
        #expect(end == .milliseconds(1000))
        #expect(machine.stalledFor(at: end) == nil)
    }

    /// A record that breaks the connection (a statement over `max_allowed_packet`): the batch is
    /// split to find it; it is checked against a store that answers before and after, and
    /// written without its output.
    @Test func aRecordThatBreaksTheConnectionIsFoundAndWrittenWithoutItsOutput() {
        var machine = RecorderMachine()
        for task: Int64 in 0..<8 {
            machine.queueFinished(Self.end(task, output: task == 5 ? "huge" : "fine"), now: .zero)
        }
        var store = Store()
        var stored: [FinishedRun] = []
        store.record = { batch in
            if batch.finished.contains(where: { $0.run.output == "huge" }) {
                return .failure(StoreError(.unavailable, "server has gone away"))
            }
            stored += batch.finished
            return .success(())
        }
        _ = store.drive(&machine, from: .zero)
        #expect(stored.count == 8)
        #expect(stored.first { $0.run.taskID == 5 }?.run.output == nil)
        #expect(stored.first { $0.run.taskID == 5 }?.run.error?.contains("gone away") == true)
        #expect(stored.filter { $0.run.output == "fine" }.count == 7)
        #expect(store.steps.filter { $0 == .probe }.count == 2)
        #expect(store.notices.last == .writtenWithoutOutput(StoreError(.unavailable, "server has gone away")))
    }

    /// The store itself is down (it does not answer a probe either): not the record's fault; it
    /// waits for the store, whole, output and all.
    @Test func aStoreThatIsDownIsNotBlamedOnTheRecord() {
        var machine = RecorderMachine()
        machine.queueFinished(Self.end(1, output: "precious"), now: .zero)
        var store = Store()
        var down = true
        store.record = { _ in down ? .failure(StoreError(.unavailable, "down")) : .success(()) }
        store.answers = { !down }
        let paused = store.drive(&machine, from: .zero, until: .seconds(10))
        #expect(store.steps.contains(.probe))
        down = false
        _ = store.drive(&machine, from: paused)
        #expect(store.writes.last?.finished.first?.run.output == "precious")
        #expect(!store.notices.contains { if case .writtenWithoutOutput = $0 { true } else { false } })
    }

    /// Results stuck for a whole lease forbid renewing it; a write that hangs counts from its start.
    @Test func stuckResultsForbidRenewingTheLease() {
        var machine = RecorderMachine()
        machine.queueFinished(Self.end(1), now: .zero)
        _ = machine.flushRequested()
        // The write is handed out at 0 and hangs.
        let step = machine.next(now: .zero)
        #expect(step == .write(RunBatch(finished: [Self.end(1)])))
        #expect(machine.mayRenew(lease: .seconds(10), at: .seconds(9)))
        #expect(!machine.mayRenew(lease: .seconds(10), at: .seconds(10)))
        #expect(machine.written(.success(()), now: .seconds(12)) == [])
        #expect(machine.mayRenew(lease: .seconds(10), at: .seconds(12)))
    }

    @Test func stoppingWhileABatchFailsGivesItUp() {
        var machine = RecorderMachine()
        machine.queueFinished(Self.end(1), now: .zero)
        let generation = machine.flushRequested()
        var store = Store()
        store.record = { _ in .failure(StoreError(.unavailable, "down")) }
        let paused = store.drive(&machine, from: .zero, until: .zero)
        machine.stop()
        let step = machine.next(now: paused)
        #expect(step == .stopped)
        #expect(!machine.isWritten(generation))
        let later = machine.next(now: paused + .seconds(60))
        #expect(later == .stopped)
    }

    @Test func theQueueIsBounded() {
        var machine = RecorderMachine(settings: .init(capacity: 3))
        for task: Int64 in 0..<3 { machine.queueFinished(Self.end(task), now: .zero) }
        #expect(!machine.hasRoom)
        // Taken for writing: room again.
        _ = machine.next(now: .seconds(1))
        #expect(machine.hasRoom)
        for task: Int64 in 3..<6 { machine.queueFinished(Self.end(task), now: .seconds(1)) }
        #expect(!machine.hasRoom)
        // A stopping recorder no longer holds producers back (what it cannot write is settled by
        // recovery).
        machine.stop()
        #expect(machine.hasRoom)
    }

    /// Output so far goes after the results, in a call of its own, and is dropped on failure.
    @Test func outputSoFarIsWrittenApartAndDroppedOnFailure() {
        var machine = RecorderMachine()
        let progress = RunProgress(key: Self.start(1).key, token: ClaimToken(1), output: "half way")
        machine.queueProgress([progress], now: .zero)
        machine.queueFinished(Self.end(2), now: .zero)
        var store = Store()
        store.record = { batch in batch.progress.isEmpty ? .success(()) : .failure(StoreError(.conflict, "busy")) }
        _ = store.drive(&machine, from: .zero)
        #expect(store.writes == [RunBatch(finished: [Self.end(2)])])
        #expect(store.steps.contains(.writeOutputsSoFar(RunBatch(progress: [progress]))))
        #expect(store.notices == [.outputsSoFarDropped(StoreError(.conflict, "busy"))])
        let step = machine.next(now: .seconds(1))
        #expect(step == .idle)
    }
}
