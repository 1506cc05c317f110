import Foundation
import SundialCore
import Synchronization
import Testing

/// What a claim fences, and what outlives it, the same on both stores: writes of a claim that is
/// gone, retries beside a claim, the history retention keeps, a claim's own version.
@Suite(.serialized) struct ClaimFencingConformanceTests {
    /// An executor cut off for longer than its lease writes, once it is back, the start and the
    /// result it had queued: its claim was recovered and the fire run by another meanwhile, and
    /// retention may have deleted that run. Neither write may put a second history in its place.
    @Test(arguments: StoreConformanceTests.kinds) func aGoneClaimsLateStartAndResultAreNotWritten(kind: StoreKind)
        throws
    {
        let s = try kind.make("late_writes")
        let now = try s.store.now()
        let id = try s.insert("every-second", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let first = try s.store.claim(s.request(limit: 1))
        let claimed = try #require(first.rows.first)
        // Recovered (given back unchanged), then claimed by someone else.
        #expect(try s.store.release(token: first.token, taskIDs: [id]) == 1)
        let second = try s.store.claim(s.request(limit: 1))
        #expect(second.rows.map(\.id) == [id])
        let late = s.finished(claimed, token: first.token, status: .failed, next: nil)
        try s.recordStart(of: late)
        #expect(try s.store.runs(ofTask: id, limit: 5).isEmpty, "a start under a claim that is gone")
        try s.store.record(RunBatch(finished: [late]))
        #expect(try s.store.runs(ofTask: id, limit: 5).isEmpty, "a result of a claim that is gone, off the record")
        #expect(try s.row(id)?.failing == false)
        // The claim that holds the row writes both.
        let current = s.finished(try #require(second.rows.first), token: second.token, status: .succeeded, next: nil)
        try s.recordStart(of: current)
        #expect(try s.store.runs(ofTask: id, limit: 5).map(\.status) == [.running])
        try s.store.record(RunBatch(finished: [current]))
        #expect(try s.store.runs(ofTask: id, limit: 5).map(\.status) == [.succeeded])
        // A run on record under the gone claim is still ended by its late result: it would stay
        // `running` otherwise.
        let other = try s.insert("deleted-while-running", nextRun: now.addingTimeInterval(-1))
        let third = try s.store.claim(s.request(limit: 1))
        let row = try #require(third.rows.first { $0.id == other })
        let ended = s.finished(row, token: third.token, status: .succeeded, next: nil)
        try s.recordStart(of: ended)
        #expect(try s.store.release(token: third.token, taskIDs: [other]) == 1)
        try s.store.record(RunBatch(finished: [ended]))
        #expect(try s.store.runs(ofTask: other, limit: 5).map(\.status) == [.succeeded])
        // A row deleted while its fire ran: the run on record still ends.
        let deleted = try s.insert("deleted", nextRun: now.addingTimeInterval(-1))
        let fourth = try s.store.claim(s.request(limit: 5))
        let deletedRow = try #require(fourth.rows.first { $0.id == deleted })
        let deletedEnd = s.finished(deletedRow, token: fourth.token, status: .succeeded, next: nil)
        try s.recordStart(of: deletedEnd)
        #expect(try s.store.delete(taskID: deleted))
        try s.store.record(RunBatch(finished: [deletedEnd]))
        #expect(try s.store.runs(RunFilter(taskID: deleted), before: nil, limit: 5).map(\.status) == [.succeeded])
    }

    /// A concurrent run is on record before it starts: its result with no run on record comes
    /// after recovery ended it and retention deleted that, and is not written (nor its retry,
    /// of a fire that ran).
    @Test(arguments: StoreConformanceTests.kinds) func aConcurrentResultOffTheRecordIsLate(kind: StoreKind) throws {
        let s = try kind.make("late_concurrent")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let id = try s.insert("wide", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 2)
        try s.set(id, "delivery", "at_most_once")
        let batch = try s.store.claim(s.request(limit: 1))
        let claimed = try #require(batch.rows.first)
        let (run, started) = try s.startConcurrent(
            claimed, token: batch.token, movingOnTo: StoreUnderTest.plan(at: now.addingTimeInterval(3600)))
        #expect(started == .started)
        try s.advance(seconds: 0.5)
        _ = try s.store.recover(executor: "e1", reason: "gone", self: false) { _ in nil }
        var policy = RetentionPolicy()
        (policy.keepPerTask, policy.maxAge) = (0, nil)
        #expect(try s.store.pruneRuns(policy, limit: 10) == 1)
        var failed = run
        (failed.status, failed.finishedAt, failed.retryAt) = (.failed, now, now.addingTimeInterval(-0.1))
        try s.store.record(RunBatch(finished: [FinishedRun(run: failed, row: nil)]))
        #expect(try s.store.runs(ofTask: id, limit: 5).isEmpty)
        #expect(try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 5).isEmpty)
    }

    /// A task that runs one at a time runs its fire under the claim, uncounted in `running`: a
    /// retry planned while it ran several at once waits for the claim (its limit was lowered).
    @Test(arguments: StoreConformanceTests.kinds) func aRetryWaitsForAClaimOfATaskThatRunsOneAtATime(kind: StoreKind)
        throws
    {
        let s = try kind.make("retry_beside_claim")
        let now = try s.store.now()
        let (id, run) = try s.concurrentTaskStarted(
            "narrowed", due: now.addingTimeInterval(-1), next: now.addingTimeInterval(-0.5))
        var failed = run
        (failed.status, failed.finishedAt, failed.retryAt) = (.failed, now, now.addingTimeInterval(-0.2))
        try s.store.record(RunBatch(finished: [FinishedRun(run: failed, row: nil)]))
        // Narrowed to one at a time, and its next fire claimed.
        try s.set(id, "max_concurrency", "1")
        let next = try s.store.claim(s.request(limit: 1))
        #expect(next.rows.map(\.id) == [id])
        #expect(try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 5).isEmpty)
        var retry = run
        (retry.attempt, retry.token) = (1, ClaimToken(41))
        #expect(try s.store.startConcurrentRun(retry, moveOn: nil, retrying: run.key) == .noRoom)
        // The claim ends: the retry goes.
        #expect(try s.store.release(token: next.token, taskIDs: [id]) == 1)
        #expect(try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 5).map(\.run) == [run.key])
        #expect(try s.store.startConcurrentRun(retry, moveOn: nil, retrying: run.key) == .started)
    }

    /// Retention keeps every run of a fire still in play: its lost attempts count toward
    /// `max_attempts` (a fire that kills its executors), and its run keys keep an at_most_once
    /// fire from starting twice. Settled fires go as before.
    @Test(arguments: StoreConformanceTests.kinds) func retentionKeepsEveryRunOfAFireStillInPlay(kind: StoreKind)
        throws
    {
        let s = try kind.make("retention_in_play")
        let now = try s.store.now()
        let current = now.addingTimeInterval(-30)
        let id = try s.insert("poisoned", schedule: "* * * * *", nextRun: current)
        func run(_ fire: Date, _ attempt: Int, _ status: RunStatus, retry: Bool = false) -> RunRecord {
            var record = RunRecord(
                taskID: id, token: ClaimToken(9), scheduledFor: fire, attempt: attempt, executor: "e1",
                startedAt: fire, finishedAt: status == .running ? nil : fire, status: status, concurrent: true)
            record.retryAt = retry ? now.addingTimeInterval(3600) : nil
            return record
        }
        let running = now.addingTimeInterval(-50)
        let retried = now.addingTimeInterval(-45)
        let settled = now.addingTimeInterval(-40)
        let runs = [
            run(running, 0, .lost), run(running, 1, .running),  // an attempt still running
            run(retried, 0, .lost), run(retried, 1, .failed, retry: true),  // a retry pending
            run(settled, 0, .lost), run(settled, 1, .succeeded),  // settled
            run(current, 0, .lost),  // the fire the task is on
        ]
        for record in runs { try s.store.record(RunBatch(started: [record])) }
        var policy = RetentionPolicy()
        policy.keepPerTask = 0
        policy.maxAge = nil
        var deleted = 0
        for _ in 0..<3 { deleted += try s.store.pruneRuns(policy, limit: 100) }
        #expect(deleted == 2, "only the settled fire's runs")
        let left = Set(
            try s.store.runs(ofTask: id, limit: 20).map { "\($0.scheduledFor.timeIntervalSince(now))#\($0.attempt)" })
        #expect(left.count == 5)
        #expect(!left.contains { $0.hasPrefix("-40") })
        policy.keepPerTask = nil
        policy.maxAge = .seconds(1)
        #expect(try s.store.pruneRuns(policy, limit: 100) == 0)
        #expect(try s.store.runs(ofTask: id, limit: 20).count == 5)
    }

    /// A claimed row tells whether anything changed it since the claim: recovery cannot know
    /// then under which settings the claim started its fire (at_least_once, unrecorded, say).
    @Test(arguments: StoreConformanceTests.kinds) func aClaimedRowTellsWhetherItChangedSinceTheClaim(kind: StoreKind)
        throws
    {
        let s = try kind.make("changed_since_claim")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let untouched = try s.insert("untouched", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let edited = try s.insert("edited", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 2))
        #expect(batch.rows.count == 2)
        #expect(try s.row(untouched)?.changedSinceClaim == false)
        #expect(try s.row(edited)?.changedSinceClaim == false)
        try s.set(edited, "delivery", "at_most_once")
        #expect(try s.row(edited)?.changedSinceClaim == true)
        #expect(try s.row(untouched)?.changedSinceClaim == false)
        let seen = Mutex<[Int64: Bool]>([:])
        try s.advance(seconds: 0.5)
        _ = try s.store.recover(executor: "e1", reason: "gone", self: false) { fire in
            seen.withLock { $0[fire.row.id] = fire.row.changedSinceClaim }
            return nil
        }
        #expect(seen.withLock { $0 } == [untouched: false, edited: true])
    }

    /// Executors' bookkeeping (another run of the task counted down, its failing flag) is not an
    /// edit: a claim of a task that runs several at once stays unchanged, so recovery can still
    /// tell that it certainly never started.
    @Test(arguments: StoreConformanceTests.kinds) func bookkeepingIsNotAChangeToAClaimedRow(kind: StoreKind) throws {
        let s = try kind.make("bookkeeping_unchanged")
        let now = try s.store.now()
        let (id, run) = try s.concurrentTaskStarted(
            "wide", due: now.addingTimeInterval(-2), next: now.addingTimeInterval(-1))
        let second = try s.store.claim(s.request(limit: 1))
        #expect(second.rows.map(\.id) == [id])
        #expect(try s.row(id)?.changedSinceClaim == false)
        var failed = run
        (failed.status, failed.finishedAt) = (.failed, now)
        try s.store.record(RunBatch(finished: [FinishedRun(run: failed, row: nil, events: [.failed])]))
        let row = try #require(try s.row(id))
        #expect(row.running == 0 && row.failing)
        #expect(!row.changedSinceClaim)
    }
}

/// Where the in-memory store once compared text as Swift does, and MySQL as its columns do.
@Suite(.serialized) struct TextComparisonConformanceTests {
    /// Task names are one name whatever their case or trailing spaces (`utf8mb4_unicode_ci`).
    @Test(arguments: StoreConformanceTests.kinds) func taskNamesCompareAsTheColumnDoes(kind: StoreKind) throws {
        let s = try kind.make("task_names")
        let plan = FirePlanner.Plan(status: .active, nextRun: nil, fireAt: nil, attempt: 0, error: nil)
        let report = try s.store.insert(NewTask(name: "Report", action: "noop"), plan: plan)
        #expect(try s.store.task(named: "REPORT")?.id == report.id)
        #expect(try s.store.task(named: "report ")?.id == report.id)
        #expect(throws: StoreError.self) { try s.store.insert(NewTask(name: "rePort", action: "noop"), plan: plan) }
        #expect(try s.store.task(named: "Reports") == nil)
    }

    /// Actions and tags match byte for byte: a spelling Swift finds equal (é composed or not) is
    /// another action, which no handler runs.
    @Test(arguments: StoreConformanceTests.kinds) func actionsAndTagsMatchByteForByte(kind: StoreKind) throws {
        let s = try kind.make("byte_names")
        let now = try s.store.now()
        let composed = "caf\u{e9}"
        let decomposed = "cafe\u{301}"
        #expect(composed == decomposed, "Swift's equality")
        _ = try s.insert("by-action", action: composed, nextRun: now.addingTimeInterval(-1))
        _ = try s.insert("by-tag", nextRun: now.addingTimeInterval(-1), tags: composed)
        #expect(try s.store.claim(s.request(limit: 5, actions: [decomposed], tags: [decomposed])).rows.isEmpty)
        let both = try s.store.claim(s.request(limit: 5, actions: [composed, "noop"], tags: [composed]))
        #expect(Set(both.rows.map(\.name)) == ["by-action", "by-tag"])
    }
}
