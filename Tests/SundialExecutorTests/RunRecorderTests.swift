import Foundation
import Logging
import SundialCore
import SundialExecutor
import SundialMemoryStore
import Testing

/// A store that refuses any batch holding a run whose output is "poison", as MySQL refuses a
/// value a column cannot hold (or, with `.unavailable`, drops the connection on it, as MySQL does
/// with a statement over `max_allowed_packet`); everything else goes to the in-memory store.
final class RefusingStore: ClaimStore, @unchecked Sendable {
    let inner = InMemoryStore(clock: .manual())
    let refusal: StoreError.Kind
    /// Refuses every form of this task's result, not only the poisoned output.
    let refusedTask: Int64?
    private(set) var refusals = 0

    init(refusal: StoreError.Kind = .rejected, refusingEverythingOf task: Int64? = nil) {
        self.refusal = refusal
        self.refusedTask = task
    }

    func now() throws(StoreError) -> Date { try inner.now() }
    func claim(_ request: ClaimRequest) throws(StoreError) -> ClaimedBatch { try inner.claim(request) }
    func release(token: ClaimToken, taskIDs: [Int64]?) throws(StoreError) -> Int {
        try inner.release(token: token, taskIDs: taskIDs)
    }
    func stillClaimed(token: ClaimToken, taskIDs: [Int64]) throws(StoreError) -> Set<Int64> {
        try inner.stillClaimed(token: token, taskIDs: taskIDs)
    }
    func markInvalid(_ claim: Claim, error: String) throws(StoreError) { try inner.markInvalid(claim, error: error) }
    func abandonResult(_ finished: FinishedRun, reason: String) throws(StoreError) {
        try inner.abandonResult(finished, reason: reason)
    }
    func startConcurrentRun(
        _ run: RunRecord, moveOn: RowFinish?, retrying: RunKey?
    ) throws(StoreError) -> ConcurrentStart {
        try inner.startConcurrentRun(run, moveOn: moveOn, retrying: retrying)
    }
    func dueRetries(actions: [String], tags: [String], lookahead: Duration, limit: Int) throws(StoreError)
        -> [DueRetry]
    {
        try inner.dueRetries(actions: actions, tags: tags, lookahead: lookahead, limit: limit)
    }
    func killRequests(executor: String) throws(StoreError) -> [RunKey] { try inner.killRequests(executor: executor) }
    func runHolders(_ keys: [RunKey]) throws(StoreError) -> [RunKey: ClaimToken] { try inner.runHolders(keys) }
    func record(_ batch: RunBatch) throws(StoreError) {
        if (batch.started + batch.finished.map(\.run)).contains(where: {
            $0.output == "poison" || $0.taskID == refusedTask
        }) {
            refusals += 1
            throw StoreError(refusal, "a value the column cannot hold")
        }
        try inner.record(batch)
    }
}

@Suite struct RunRecorderTests {
    /// A concurrent run's success (no row to finish).
    static func succeeded(task: Int, output: String) -> FinishedRun {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        return FinishedRun(
            run: RunRecord(
                taskID: Int64(task), token: ClaimToken(1), scheduledFor: at, attempt: 0, executor: "e", startedAt: at,
                finishedAt: at, status: .succeeded, output: output),
            row: nil)
    }

    /// An `at_most_once` start written late, after its fire changed hands, must not let the new
    /// holder run it unrecorded: the durable start is confirmed only under its own token.
    @Test func aDurableStartIsConfirmedOnlyWhenOnRecordUnderItsOwnToken() throws {
        let store = RefusingStore()
        let recorder = RunRecorder(store: store, logger: Logger(label: "test"))
        recorder.start()
        defer { recorder.stop() }
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        func start(task: Int64, token: Int64) -> RunRecord {
            RunRecord(
                taskID: task, token: ClaimToken(token), scheduledFor: at, attempt: 0, executor: "e", startedAt: at,
                finishedAt: nil, status: .running)
        }
        // The old holder's start reached the store first.
        try store.inner.record(RunBatch(started: [start(task: 1, token: 1)]))
        #expect(recorder.runStarted(start(task: 1, token: 2), durable: true, timeout: 10) == false)
        #expect(recorder.runStarted(start(task: 2, token: 2), durable: true, timeout: 10))
        // Asked again (a repeat of its own start): still its own.
        #expect(recorder.runStarted(start(task: 2, token: 2), durable: true, timeout: 10))
        #expect(try store.runHolders([start(task: 1, token: 2).key]).values.map(\.rawValue) == [1])
    }

    @Test(arguments: [StoreError.Kind.rejected, .unavailable])
    func aRefusedValueIsIsolatedAndRecordedWithoutItWhileEveryOtherResultIsWritten(refusal: StoreError.Kind) {
        let store = RefusingStore(refusal: refusal)
        let recorder = RunRecorder(store: store, logger: Logger(label: "test"))
        recorder.start()
        for i in 0..<100 { recorder.runFinished(Self.succeeded(task: i, output: i == 37 ? "poison" : "fine")) }
        #expect(recorder.flush(timeout: 10))
        recorder.stop()
        let runs = store.inner.allRuns
        #expect(runs.count == 100, "nothing was lost")
        #expect(runs.filter { $0.output == "fine" && $0.status == .succeeded }.count == 99)
        let refused = runs.first { $0.taskID == 37 }
        // The run succeeded: only its output was lost.
        #expect(refused?.status == .succeeded)
        #expect(refused?.output == nil)
        #expect(refused?.error?.hasPrefix("the result could not be stored") == true)
        // Split in halves down to the one record: a handful of refusals, not one per run.
        #expect(store.refusals <= (refusal == .rejected ? 10 : 40))
    }

    @Test func theQueueIsBoundedSoAStoreThatStopsAnsweringSlowsProducersDown() {
        let store = InMemoryStore(clock: .manual())
        store.injectFaults { _ in .unavailable }
        let recorder = RunRecorder(store: store, logger: Logger(label: "test"), capacity: 10)
        recorder.start()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let producer = Thread {
            for i in 0..<30 {
                recorder.runStarted(
                    RunRecord(
                        taskID: Int64(i), token: ClaimToken(1), scheduledFor: at, attempt: 0, executor: "e",
                        startedAt: at, status: .running))
            }
        }
        producer.start()
        Thread.sleep(forTimeInterval: 0.5)
        // Ten queued and one batch in hand: the producer waits, memory does not grow.
        #expect(recorder.queued <= 10)
        #expect(recorder.stalledFor != nil)
        store.injectFaults(nil)
        #expect(recorder.flush(timeout: 10))
        let deadline = Date().addingTimeInterval(10)
        while store.allRuns.count < 30 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(store.allRuns.count == 30)
        // Cleared once the write that was failing goes through (just after its rows appear).
        while recorder.stalledFor != nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        #expect(recorder.stalledFor == nil)
        recorder.stop()
    }

    /// A write that hangs (a frozen link, a read timeout of a minute) is a stall from its start,
    /// before it fails: past a lease of it the executor must not renew its lease.
    @Test func aWriteThatHangsIsAStallBeforeItFails() {
        let store = InMemoryStore(clock: .manual())
        let release = DispatchSemaphore(value: 0)
        store.injectFaults { operation in
            if operation == .record { release.wait() }
            return nil
        }
        let recorder = RunRecorder(store: store, logger: Logger(label: "test"))
        recorder.start()
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        recorder.runStarted(
            RunRecord(
                taskID: 1, token: ClaimToken(1), scheduledFor: at, attempt: 0, executor: "e", startedAt: at,
                status: .running))
        // Waited for, not timed: the write is under way and has not answered for a second
        // (`ResultsStall.slowWrite`), then for a 2 s lease.
        let deadline = Date().addingTimeInterval(60)
        while recorder.mayRenew(lease: .seconds(2)) && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect((recorder.stalledFor ?? .zero) >= .seconds(2))
        #expect(!recorder.mayRenew(lease: .seconds(2)))
        #expect(recorder.mayRenew(lease: .seconds(600)))
        release.signal()
        #expect(recorder.flush(timeout: 10))
        #expect(recorder.stalledFor == nil)
        #expect(recorder.mayRenew(lease: .seconds(2)))
        #expect(store.allRuns.count == 1)
        recorder.stop()
    }

    @Test func aStoreThatCannotBeWrittenForAWhileGetsEveryResultWholeAfterwards() {
        // Reads answer, writes fail (a lost primary behind a proxy, a read-only switchover): no
        // result is judged refused for that, none is dropped, and those who wait are not told
        // it was written.
        let store = InMemoryStore(clock: .manual())
        store.injectFaults { $0 == .record ? .unavailable : nil }
        let recorder = RunRecorder(store: store, logger: Logger(label: "test"))
        recorder.start()
        for i in 0..<4 { recorder.runFinished(Self.succeeded(task: i, output: "out \(i)")) }
        #expect(recorder.flush(timeout: 3) == false)
        #expect(store.allRuns.isEmpty)
        store.injectFaults(nil)
        #expect(recorder.flush(timeout: 20))
        recorder.stop()
        #expect(store.allRuns.map(\.status) == [.succeeded, .succeeded, .succeeded, .succeeded])
        #expect(store.allRuns.map(\.output) == ["out 0", "out 1", "out 2", "out 3"])
    }

    @Test func aResultTheStoreRefusesInEveryFormMarksItsRowInvalidInsteadOfLeavingItClaimed() throws {
        let store = RefusingStore(refusingEverythingOf: 1)
        let now = try store.now()
        var row = TaskRow(id: 0, name: "unstorable", action: "noop")
        row.nextRun = now.addingTimeInterval(-1)
        let id = store.inner.insertRaw(row)
        #expect(id == store.refusedTask)
        _ = store.inner.insertRaw(TaskRow(id: 0, name: "fine", action: "noop"))
        let batch = try store.claim(
            ClaimRequest(token: ClaimToken(7), executor: "e", actions: ["noop"], tags: [], limit: 10, lookahead: .zero))
        #expect(batch.rows.map(\.id).sorted() == [1, 2])
        let recorder = RunRecorder(store: store, logger: Logger(label: "test"))
        recorder.start()
        for claimed in batch.rows {
            recorder.runFinished(
                FinishedRun(
                    run: RunRecord(
                        taskID: claimed.id, token: batch.token, scheduledFor: now, attempt: 0, executor: "e",
                        startedAt: now, finishedAt: now, status: .succeeded),
                    row: RowFinish(
                        claim: Claim(taskID: claimed.id, token: batch.token),
                        plan: FirePlanner.Plan(status: .done, nextRun: nil, fireAt: nil, attempt: 0, error: nil),
                        claimed: ClaimedState(claimed))))
        }
        #expect(recorder.flush(timeout: 10))
        recorder.stop()
        let rows = store.inner.allTasks
        let refused = try #require(rows.first { $0.id == id })
        #expect(refused.status == .invalid)
        #expect(refused.claimToken == nil)
        #expect(refused.error?.hasPrefix("the result could not be stored") == true)
        #expect(rows.first { $0.id != id }?.status == .done)
    }
}
