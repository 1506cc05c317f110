import Foundation
import SundialCore
import SundialMemoryStore
import SundialMySQL
import SundialMySQLStore
import SundialTesting
import Synchronization
import Testing

/// The rules every store must keep, run against the in-memory store and against a real MariaDB
/// (when SUNDIAL_TEST_DATABASE_URL is set). A store that passes can run executors.
@Suite(.serialized) struct StoreConformanceTests {
    static var kinds: [StoreKind] { IntegrationEnvironment.hasDatabase ? [.memory, .mysql] : [.memory] }

    @Test(arguments: kinds) func claimTakesDueRowsInOrderAndOnlyThoseTheExecutorCanRun(kind: StoreKind) throws {
        let s = try kind.make("claims")
        let now = try s.store.now()
        let late = try s.insert("late", nextRun: now.addingTimeInterval(-10))
        let early = try s.insert("early", nextRun: now.addingTimeInterval(-20))
        let once = try s.insert("once", nextRun: nil)
        _ = try s.insert("future", nextRun: now.addingTimeInterval(3600))
        _ = try s.insert("other-action", action: "invoice", nextRun: now.addingTimeInterval(-30))
        _ = try s.insert("gpu", nextRun: now.addingTimeInterval(-30), tags: "gpu")
        // Names are compared byte for byte, never by the table's collation: no handler runs these.
        _ = try s.insert("shouting", action: "NOOP", nextRun: now.addingTimeInterval(-30))
        _ = try s.insert("padded", action: "noop ", nextRun: now.addingTimeInterval(-30))
        _ = try s.insert("upper-tags", nextRun: now.addingTimeInterval(-30), tags: "GPU")
        _ = try s.insert("paused", nextRun: now.addingTimeInterval(-30), status: .paused)
        _ = try s.insert("waiting-first-fire", schedule: "* * * * *", nextRun: nil)

        // A claim that skips the look for unscheduled rows leaves the one-shot for the next.
        var skipping = s.request(limit: 1)
        skipping.includeUnscheduled = false
        let first = try s.store.claim(skipping)
        #expect(first.rows.map(\.id) == [early])
        // The store's clock comes with the rows.
        #expect(first.now.map { abs($0.timeIntervalSince(now)) < 5 } == true)
        #expect(try s.store.release(token: first.token, taskIDs: nil) == 1)
        // The one-shot is chosen first, and comes back in next_run order: its next_run is the
        // claim's own time, after the overdue rows'.
        let batch = try s.store.claim(s.request(limit: 10))
        #expect(batch.rows.map(\.id) == [early, late, once])
        #expect(batch.unscheduled == 1)
        var small = s.request(limit: 1)
        small.includeUnscheduled = true
        try s.store.release(token: batch.token, taskIDs: [once])
        try s.advance(seconds: 0.01)
        #expect(try s.store.claim(small).rows.map(\.id) == [once])
        #expect(batch.rows.allSatisfy { $0.claimToken == batch.token && $0.claimedBy == "e1" })
        // Claimed rows are not claimed again; tags let the right executor in.
        #expect(try s.store.claim(s.request(limit: 10)).rows.isEmpty)
        #expect(try s.store.claim(s.request(limit: 10, tags: ["gpu"])).rows.map(\.name) == ["gpu"])
        #expect(try s.store.claim(s.request(limit: 10, actions: ["invoice"])).rows.map(\.name) == ["other-action"])
        // Nothing for an executor that runs nothing.
        #expect(try s.store.claim(s.request(limit: 10, actions: [])).rows.isEmpty)
    }

    @Test(arguments: kinds) func releaseIsFencedByTheTokenAndSafeToRepeat(kind: StoreKind) throws {
        let s = try kind.make("release")
        let now = try s.store.now()
        for i in 0..<4 { _ = try s.insert("t\(i)", nextRun: now.addingTimeInterval(-1)) }
        let first = try s.store.claim(s.request(limit: 4))
        #expect(first.rows.count == 4)
        #expect(try s.store.release(token: ClaimToken(12345), taskIDs: nil) == 0)
        #expect(try s.store.release(token: first.token, taskIDs: [first.rows[0].id]) == 1)
        #expect(try s.store.release(token: first.token, taskIDs: [first.rows[0].id]) == 0)
        let second = try s.store.claim(s.request(limit: 4))
        #expect(second.rows.map(\.id) == [first.rows[0].id])
        #expect(second.rows[0].attempt == first.rows[0].attempt)
        // The first token's release no longer touches the row the second claim holds.
        #expect(try s.store.release(token: first.token, taskIDs: nil) == 3)
        #expect(try s.row(first.rows[0].id)?.claimToken == second.token)
    }

    @Test(arguments: kinds) func aLastLookFindsRowsPausedDeletedOrTakenSinceTheClaim(kind: StoreKind) throws {
        let s = try kind.make("still_claimed")
        let now = try s.store.now()
        let ids = try (0..<4).map { try s.insert("t\($0)", nextRun: now.addingTimeInterval(-1)) }
        let batch = try s.store.claim(s.request(limit: 4))
        #expect(batch.rows.count == 4)
        try s.set(ids[1], "status", "paused")
        _ = try s.store.delete(taskID: ids[2])
        #expect(try s.store.release(token: batch.token, taskIDs: [ids[3]]) == 1)
        let other = try s.store.claim(s.request(limit: 4))
        #expect(other.rows.map(\.id) == [ids[3]])
        #expect(try s.store.stillClaimed(token: batch.token, taskIDs: ids) == [ids[0]])
        #expect(try s.store.stillClaimed(token: other.token, taskIDs: ids) == [ids[3]])
        #expect(try s.store.stillClaimed(token: ClaimToken(12345), taskIDs: ids).isEmpty)
        #expect(try s.store.stillClaimed(token: batch.token, taskIDs: []).isEmpty)
    }

    @Test(arguments: kinds) func aFinishAppliesThePlanOnceAndALateOneIsFencedOut(kind: StoreKind) throws {
        let s = try kind.make("finish")
        let now = try s.store.now()
        let id = try s.insert("recurring", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 1))
        let row = try #require(batch.rows.first)
        let next = now.addingTimeInterval(60)
        let finish = s.finished(row, token: batch.token, status: .succeeded, next: next)
        try s.store.record(RunBatch(started: [finish.run]))
        try s.store.record(RunBatch(finished: [finish]))
        // A repeated batch (its first answer lost) changes nothing.
        try s.store.record(RunBatch(finished: [finish]))
        let after = try #require(try s.row(id))
        #expect(after.claimToken == nil && after.status == .active)
        #expect(after.nextRun.map { abs($0.timeIntervalSince(next)) < 0.001 } == true)
        #expect(after.lastDuration == 0.25)
        #expect(try s.store.runs(ofTask: id, limit: 10).map(\.status) == [.succeeded])
        // The row is claimed again; a result carrying the old token is fenced out.
        let again = try s.store.claim(s.request(limit: 1, lookahead: .seconds(120)))
        #expect(again.rows.map(\.id) == [id])
        try s.store.record(RunBatch(finished: [s.finished(row, token: batch.token, status: .failed, next: nil)]))
        #expect(try s.row(id)?.claimToken == again.token)
    }

    @Test(arguments: kinds) func aBatchOfManyClaimsAndPlansFinishesEachRowItsOwnWay(kind: StoreKind) throws {
        let s = try kind.make("finish_many")
        let now = try s.store.now()
        let ids = try (0..<40).map { try s.insert("row-\($0)", nextRun: now.addingTimeInterval(-1)) }
        let first = try s.store.claim(s.request(limit: 25))
        let second = try s.store.claim(s.request(limit: 25))
        #expect(first.rows.count == 25 && second.rows.count == 15)
        // One row of each claim edited meanwhile: paused, and its next_run moved.
        let pausedID = first.rows[3].id
        let movedID = second.rows[4].id
        let moved = now.addingTimeInterval(7_200)
        try s.set(pausedID, "status", "paused")
        try s.setNextRun(movedID, moved)
        var finishes: [FinishedRun] = []
        for (batch, rows) in [(first, first.rows), (second, second.rows)] {
            for (i, row) in rows.enumerated() {
                // Even rows done, odd rows each to its own next fire: homogeneous and mixed runs.
                let next = i % 2 == 0 ? nil : now.addingTimeInterval(Double(60 + row.id))
                var finish = s.finished(row, token: batch.token, status: .succeeded, next: next)
                finish.row?.duration = Double(row.id) / 100
                finishes.append(finish)
            }
        }
        try s.store.record(RunBatch(finished: finishes))
        for finish in finishes {
            let id = finish.run.taskID
            let row = try #require(try s.row(id))
            #expect(row.claimToken == nil)
            #expect(row.lastDuration.map { abs($0 - Double(id) / 100) < 0.001 } == true)
            if id == pausedID {
                #expect(row.status == .paused)
            } else if id == movedID {
                #expect(row.nextRun.map { abs($0.timeIntervalSince(moved)) < 0.001 } == true)
            } else if let next = finish.row?.plan.nextRun {
                #expect(row.status == .active)
                #expect(row.nextRun.map { abs($0.timeIntervalSince(next)) < 0.001 } == true)
            } else {
                #expect(row.status == .done && row.nextRun == nil)
            }
        }
        #expect(Set(finishes.map(\.run.taskID)) == Set(ids))
    }

    @Test(arguments: kinds) func editsMadeWhileClaimedWinOverTheFinishingRun(kind: StoreKind) throws {
        let s = try kind.make("edits")
        let now = try s.store.now()
        let paused = try s.insert("paused", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let edited = try s.insert("edited", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let moved = try s.insert("moved", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let deleted = try s.insert("deleted", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let untouched = try s.insert("untouched", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 5))
        #expect(batch.rows.count == 5)
        try s.set(paused, "status", "paused")
        try s.set(edited, "schedule", "0 0 1 1 *")
        let chosen = now.addingTimeInterval(7200)
        try s.setNextRun(moved, chosen)
        #expect(try s.store.delete(taskID: deleted))
        let next = now.addingTimeInterval(60)
        try s.store.record(
            RunBatch(finished: batch.rows.map { s.finished($0, token: batch.token, status: .succeeded, next: next) }))
        #expect(try s.row(paused)?.status == .paused)
        #expect(try s.row(paused)?.claimToken == nil)
        #expect(try s.row(edited)?.nextRun == nil)
        #expect(try s.row(moved)?.nextRun.map { abs($0.timeIntervalSince(chosen)) < 0.001 } == true)
        #expect(try s.row(deleted) == nil)
        #expect(try s.row(untouched)?.nextRun.map { abs($0.timeIntervalSince(next)) < 0.001 } == true)
        #expect(try s.store.runs(ofTask: deleted, limit: 5).count == 1, "history stays")
    }

    /// A concurrent run's start moves its row on as a finish does: an edit made since the claim
    /// wins over the plan the executor computed from the row as it claimed it.
    @Test(arguments: kinds) func editsMadeWhileClaimedWinOverAConcurrentStart(kind: StoreKind) throws {
        let s = try kind.make("start_edits")
        let now = try s.store.now()
        func wide(_ name: String) throws -> Int64 {
            try s.insert(name, schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 3)
        }
        let (edited, moved, untouched) = (try wide("edited"), try wide("moved"), try wide("untouched"))
        let batch = try s.store.claim(s.request(limit: 3))
        #expect(batch.rows.count == 3)
        try s.set(edited, "schedule", "0 0 1 1 *")
        let chosen = now.addingTimeInterval(7200)
        try s.setNextRun(moved, chosen)
        let next = now.addingTimeInterval(60)
        let plan = FirePlanner.Plan(status: .active, nextRun: next, fireAt: next, attempt: 0, error: nil)
        for row in batch.rows {
            var run = s.finished(row, token: batch.token, status: .running, next: nil).run
            run.concurrent = true
            #expect(
                try s.store.startConcurrentRun(run, moveOn: s.moveOn(row, token: batch.token, to: plan), retrying: nil)
                    == .started)
        }
        #expect(try s.row(edited)?.nextRun == nil, "the new schedule's next fire is computed afresh")
        #expect(try s.row(moved)?.nextRun.map { abs($0.timeIntervalSince(chosen)) < 0.001 } == true)
        #expect(try s.row(untouched)?.nextRun.map { abs($0.timeIntervalSince(next)) < 0.001 } == true)
        for id in [edited, moved, untouched] {
            #expect(try s.row(id)?.claimToken == nil)
            #expect(try s.row(id)?.running == 1)
        }
    }

    @Test(arguments: kinds) func recoveryEndsRunsLostAndFreesRowsOnlyAfterTheLeaseEnds(kind: StoreKind) throws {
        let s = try kind.make("recovery")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        _ = try s.store.register(s.registration("e2"), lease: .seconds(60))
        let now = try s.store.now()
        let started = try s.insert("started", nextRun: now.addingTimeInterval(-1))
        let unstarted = try s.insert("unstarted", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 2))
        let row = try #require(batch.rows.first { $0.id == started })
        try s.store.record(RunBatch(started: [s.finished(row, token: batch.token, status: .running, next: nil).run]))
        // Started fires run again; the one only claimed is freed as it was (as for at_most_once).
        let plan: @Sendable (InterruptedFire) -> FirePlanner.Plan? = { fire in
            guard fire.startOnRecord else { return nil }
            return FirePlanner.Plan(
                status: .active, nextRun: fire.now, fireAt: fire.scheduledFor, attempt: fire.attempt + 1, error: "lost")
        }
        #expect(try s.store.recover(executor: "e1", reason: "gone", self: false, plan: plan).recovered == false)
        #expect(try s.store.expiredHolders().contains("e1") == false)
        try s.advance(seconds: 0.5)
        #expect(try s.store.expiredHolders().contains("e1"))
        #expect(try s.store.expiredHolders().contains("e2") == false)
        let report = try s.store.recover(executor: "e1", reason: "gone", self: false, plan: plan)
        #expect(report == RecoveryReport(recovered: true, lostRuns: 1, freedRows: 2))
        #expect(try s.store.runs(ofTask: started, limit: 5).map(\.status) == [.lost])
        #expect(try s.row(started)?.attempt == 1)
        #expect(try s.row(started)?.claimToken == nil)
        #expect(try s.row(unstarted)?.attempt == 0)
        #expect(try s.row(unstarted)?.claimToken == nil)
        // Its lease is gone for good; a late result does not bring the run back.
        #expect(try s.store.renewLease(executor: "e1", lease: .seconds(10), busy: 0) == .lost)
        try s.store.record(RunBatch(finished: [s.finished(row, token: batch.token, status: .succeeded, next: nil)]))
        #expect(try s.store.runs(ofTask: started, limit: 5).map(\.status) == [.lost])
        #expect(try s.store.recover(executor: "e1", reason: "again", self: false, plan: plan).lostRuns == 0)
    }

    /// An executor lost before its start was on record, while someone edited its row: the attempt
    /// on record as lost is the one its claim took (its execution's own run key), and the edit's
    /// fire stands instead of a retry of the old one.
    @Test(arguments: kinds) func recoveryRecordsTheClaimedAttemptAndKeepsAnEditMadeSince(kind: StoreKind) throws {
        let s = try kind.make("recovery_edits")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let due = now.addingTimeInterval(-1)
        let moved = try s.insert("moved", schedule: "* * * * *", nextRun: due)
        let rescheduled = try s.insert("rescheduled", schedule: "* * * * *", nextRun: due)
        let untouched = try s.insert("untouched", schedule: "* * * * *", nextRun: due)
        let batch = try s.store.claim(s.request(limit: 3))
        #expect(batch.rows.count == 3)
        let chosen = now.addingTimeInterval(7200)
        try s.setNextRun(moved, chosen)
        try s.clearNextRun(rescheduled)
        let plan: @Sendable (InterruptedFire) -> FirePlanner.Plan? = { fire in
            FirePlanner.Plan(
                status: .active, nextRun: fire.now, fireAt: fire.scheduledFor, attempt: fire.attempt + 1, error: "lost")
        }
        try s.advance(seconds: 0.5)
        #expect(try s.store.recover(executor: "e1", reason: "gone", self: false, plan: plan).recovered)
        for id in [moved, rescheduled, untouched] {
            let runs = try s.store.runs(ofTask: id, limit: 5)
            #expect(runs.map(\.status) == [.lost])
            #expect(runs.first.map { abs($0.scheduledFor.timeIntervalSince(due)) < 0.001 } == true)
            #expect(runs.first?.attempt == 0)
            #expect(try s.row(id)?.claimToken == nil)
        }
        #expect(try s.row(moved)?.nextRun.map { abs($0.timeIntervalSince(chosen)) < 0.001 } == true)
        #expect(try s.row(moved)?.attempt == 0)
        #expect(try s.row(rescheduled)?.nextRun == nil)
        // Untouched: the lost fire runs again (the plan's retry).
        #expect(try s.row(untouched)?.attempt == 1)
        #expect(try s.row(untouched)?.fireAt.map { abs($0.timeIntervalSince(due)) < 0.001 } == true)
    }

    /// An executor that died right after starting a fire may not have written its start yet
    /// (an at_least_once start is written after the handler began): such a claim, when the plan
    /// counts it, is on record as a lost attempt of the executor's, and the fire moves on to the
    /// next attempt; a start written late under the old claim changes nothing.
    @Test(arguments: kinds) func aClaimWithoutItsStartOnRecordIsALostAttemptWhenThePlanCountsIt(kind: StoreKind) throws
    {
        let s = try kind.make("unrecorded")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let counted = try s.insert("counted", nextRun: now.addingTimeInterval(-1))
        let freed = try s.insert("freed", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 2))
        #expect(batch.rows.count == 2)
        try s.advance(seconds: 0.5)
        let seen = Mutex<[InterruptedFire]>([])
        let report = try s.store.recover(executor: "e1", reason: "executor e1 lost its lease", self: false) { fire in
            seen.withLock { $0.append(fire) }
            guard fire.row.id == counted else { return nil }
            return FirePlanner.Plan(
                status: .active, nextRun: fire.now, fireAt: fire.scheduledFor, attempt: fire.attempt + 1, error: "lost")
        }
        #expect(report == RecoveryReport(recovered: true, lostRuns: 0, freedRows: 2))
        let fires = seen.withLock { $0 }.sorted { $0.row.id < $1.row.id }
        #expect(fires.map(\.startOnRecord) == [false, false])
        #expect(fires.map(\.executorLost) == [true, true])
        #expect(fires.allSatisfy { $0.leaseEnd != nil && $0.leaseEnd! <= $0.now })
        let lost = try s.store.runs(ofTask: counted, limit: 5)
        #expect(lost.map(\.status) == [.lost])
        #expect(lost.map(\.attempt) == [0])
        #expect(lost.map(\.executor) == ["e1"])
        #expect(lost.first?.error == "executor e1 lost its lease")
        #expect(try s.row(counted)?.attempt == 1)
        #expect(try s.row(counted)?.claimToken == nil)
        #expect(try s.store.runs(ofTask: freed, limit: 5).isEmpty)
        #expect(try s.row(freed)?.attempt == 0)
        #expect(try s.row(freed)?.claimToken == nil)
        // The dead executor's late start (and end) of attempt 0 leave the lost run as it is.
        let row = try #require(batch.rows.first { $0.id == counted })
        try s.store.record(RunBatch(started: [s.finished(row, token: batch.token, status: .running, next: nil).run]))
        try s.store.record(RunBatch(finished: [s.finished(row, token: batch.token, status: .succeeded, next: nil)]))
        #expect(try s.store.runs(ofTask: counted, limit: 5).map(\.status) == [.lost])
        #expect(try s.row(counted)?.attempt == 1)
    }

    /// Recovery tells the planner how many earlier attempts of the fire were lost with their
    /// executor (at_least_once gives a fire up only after a second loss).
    @Test(arguments: kinds) func recoveryCountsTheFiresEarlierLostAttempts(kind: StoreKind) throws {
        let s = try kind.make("lost_before")
        let now = try s.store.now()
        let id = try s.insert("twice", nextRun: now.addingTimeInterval(-1))
        let seen = Mutex<[Int]>([])
        for _ in 0..<2 {
            _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
            let batch = try s.store.claim(s.request(limit: 1))
            #expect(batch.rows.map(\.id) == [id])
            try s.advance(seconds: 0.5)
            _ = try s.store.recover(executor: "e1", reason: "gone", self: false) { fire in
                seen.withLock { $0.append(fire.lostBefore) }
                return FirePlanner.Plan(
                    status: .active, nextRun: fire.now, fireAt: fire.scheduledFor, attempt: fire.attempt + 1,
                    error: "lost")
            }
            try s.advance(seconds: 0.01)
        }
        #expect(seen.withLock { $0 } == [0, 1])
        #expect(try s.store.runs(ofTask: id, limit: 5).map(\.status) == [.lost, .lost])
    }

    /// A row inserted with neither schedule nor next_run gets its fire time from the claim that
    /// takes it, on record: claimed again after that claim is lost, it is the same fire (the same
    /// run key), not a new one at the second claim's time.
    @Test(arguments: kinds) func aRowInsertedWithoutNextRunKeepsTheFireTimeItsFirstClaimGaveIt(kind: StoreKind) throws {
        let s = try kind.make("unscheduled_fire")
        _ = try s.store.register(s.registration("e1"), lease: .seconds(60))
        let id = try s.insert("once", nextRun: nil)
        var request = s.request(limit: 5)
        request.includeUnscheduled = true
        let first = try s.store.claim(request)
        let row = try #require(first.rows.first)
        #expect(first.unscheduled == 1)
        let fire = try #require(row.fireAt)
        #expect(row.nextRun == fire)
        // The claim's time (read back a statement later on MySQL, where NOW(6) is per statement).
        #expect(try #require(first.now) >= fire)
        #expect(try #require(first.now).timeIntervalSince(fire) < 5)
        #expect(try s.row(id)?.fireAt == fire)
        try s.store.release(token: first.token, taskIDs: nil)
        try s.advance(seconds: 0.2)
        var again = s.request(limit: 5)
        again.includeUnscheduled = true
        let second = try s.store.claim(again)
        #expect(second.unscheduled == 0)
        #expect(second.rows.map(\.fireAt) == [fire])
    }

    @Test(arguments: kinds) func aFireAtTheLastAttemptTheStoreKeepsIsStillRecovered(kind: StoreKind) throws {
        let s = try kind.make("last_attempt")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let id = try s.insert("worn", nextRun: now.addingTimeInterval(-1))
        try s.set(id, "attempt", "\(FirePlanner.lastAttempt)")
        let batch = try s.store.claim(s.request(limit: 1))
        let row = try #require(batch.rows.first)
        #expect(row.attempt == FirePlanner.lastAttempt)
        try s.store.record(RunBatch(started: [s.finished(row, token: batch.token, status: .running, next: nil).run]))
        try s.advance(seconds: 0.5)
        let report = try s.store.recover(executor: "e1", reason: "gone", self: false) { fire in
            FirePlanner(row: fire.row, schedule: nil).afterInterruption(
                fireAt: fire.scheduledFor, attempt: fire.attempt, now: fire.now, reason: "gone")
        }
        #expect(report == RecoveryReport(recovered: true, lostRuns: 1, freedRows: 1))
        #expect(try s.row(id)?.claimToken == nil)
        #expect(try s.row(id)?.attempt == FirePlanner.lastAttempt)
    }

    @Test(arguments: kinds) func aStoppedExecutorsClaimsAreRecoverableAtOnceWhateverItsState(kind: StoreKind) throws {
        let s = try kind.make("stopped")
        _ = try s.store.register(s.registration("e1"), lease: .seconds(60))
        let now = try s.store.now()
        let id = try s.insert("held", nextRun: now.addingTimeInterval(-1))
        _ = try s.store.claim(s.request(limit: 1))
        try s.store.setState(executor: "e1", .stopped)
        #expect(try s.store.expiredHolders().contains("e1"))
        _ = try s.store.recover(executor: "e1", reason: "stopped", self: false) { _ in nil }
        #expect(try s.row(id)?.claimToken == nil)
        #expect(try s.store.expiredHolders().contains("e1") == false)
    }

    @Test(arguments: kinds) func concurrentRunsAreCountedDownExactlyOnce(kind: StoreKind) throws {
        let s = try kind.make("concurrent")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let id = try s.insert("wide", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 3)
        let next = FirePlanner.Plan(
            status: .active, nextRun: now.addingTimeInterval(-0.5), fireAt: now.addingTimeInterval(-0.5), attempt: 0,
            error: nil)
        let first = try s.store.claim(s.request(limit: 1))
        let firstRow = try #require(first.rows.first)
        var run1 = s.finished(firstRow, token: first.token, status: .running, next: nil).run
        run1.concurrent = true
        let moveOn1 = s.moveOn(firstRow, token: first.token, to: next)
        #expect(try s.store.startConcurrentRun(run1, moveOn: moveOn1, retrying: nil) == .started)
        #expect(try s.store.startConcurrentRun(run1, moveOn: moveOn1, retrying: nil) == .alreadyStarted)
        let second = try s.store.claim(s.request(limit: 1))
        let secondRow = try #require(second.rows.first)
        var run2 = s.finished(secondRow, token: second.token, status: .running, next: nil).run
        run2.concurrent = true
        run2.scheduledFor = now.addingTimeInterval(-0.5)
        #expect(
            try s.store.startConcurrentRun(
                run2, moveOn: s.moveOn(secondRow, token: second.token, to: next), retrying: nil)
                == .started)
        #expect(try s.row(id)?.running == 2)
        var ended = run1
        ended.status = .succeeded
        ended.finishedAt = now
        try s.store.record(RunBatch(finished: [FinishedRun(run: ended, row: nil)]))
        try s.store.record(RunBatch(finished: [FinishedRun(run: ended, row: nil)]))
        #expect(try s.row(id)?.running == 1)
        try s.advance(seconds: 0.5)
        let report = try s.store.recover(executor: "e1", reason: "gone", self: false) { _ in next }
        #expect(report.lostRuns == 1)
        #expect(try s.row(id)?.running == 0)
    }

    @Test(arguments: kinds) func hostileValuesAreShortenedOrClampedNeverRefused(kind: StoreKind) throws {
        let s = try kind.make("hostile")
        let now = try s.store.now()
        let id = try s.insert("loud", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 1))
        var finish = s.finished(try #require(batch.rows.first), token: batch.token, status: .failed, next: nil)
        finish.run.error = String(repeating: "é", count: 100_000)
        finish.run.output = String(repeating: "x", count: 3 << 20)
        finish.run.exitCode = Int.max
        finish.row?.plan.error = finish.run.error
        try s.store.record(RunBatch(finished: [finish]))
        let run = try #require(try s.store.runs(ofTask: id, limit: 1).first)
        #expect(run.exitCode == Int(Int32.max))
        #expect((run.error?.utf8.count ?? 0) <= 65_535 && run.error?.hasPrefix("éé") == true)
        #expect((run.output?.utf8.count ?? 0) < 3 << 20)
        #expect(try s.row(id)?.claimToken == nil)
    }

    @Test(arguments: kinds) func aBatchOfLargeOutputsIsWrittenWhateverItsTotalSize(kind: StoreKind) throws {
        let s = try kind.make("large_outputs")
        let now = try s.store.now()
        for i in 0..<40 { _ = try s.insert("loud-\(i)", nextRun: now.addingTimeInterval(-1)) }
        let batch = try s.store.claim(s.request(limit: 40))
        #expect(batch.rows.count == 40)
        // 40 outputs of 1 MiB: 40 MiB, past MariaDB's default max_allowed_packet of 16 MiB.
        let finishes = batch.rows.map { row in
            var finish = s.finished(row, token: batch.token, status: .succeeded, next: nil)
            finish.run.output = String(repeating: "y", count: 1 << 20)
            return finish
        }
        try s.store.record(RunBatch(finished: finishes))
        for row in batch.rows {
            let run = try #require(try s.store.runs(ofTask: row.id, limit: 1).first)
            #expect(run.status == .succeeded && run.output?.hasPrefix("yyy") == true)
            #expect(try s.row(row.id)?.claimToken == nil)
        }
    }

    @Test(arguments: kinds) func retentionKeepsTheNewestRunsPerTaskAndNeverARunningOne(kind: StoreKind) throws {
        let s = try kind.make("retention")
        let now = try s.store.now()
        let id = try s.insert("busy", nextRun: nil, status: .done)
        let token = ClaimToken(7)
        let runs = (0..<12).map { (i: Int) -> RunRecord in
            let at = now.addingTimeInterval(Double(i) - 20)
            let status: RunStatus = i == 0 ? .running : .succeeded
            return RunRecord(
                taskID: id, token: token, scheduledFor: at, attempt: 0, executor: "e1", startedAt: at, finishedAt: now,
                status: status)
        }
        try s.store.record(RunBatch(started: runs))
        var policy = RetentionPolicy()
        policy.maxAge = nil
        policy.keepPerTask = 5
        var deleted = 0
        for _ in 0..<3 { deleted += try s.store.pruneRuns(policy, limit: 100) }
        #expect(deleted == 6)
        let kept = try s.store.runs(ofTask: id, limit: 100)
        #expect(kept.count == 6)
        #expect(kept.contains { $0.status == .running })
        policy.keepPerTask = nil
        policy.maxAge = .seconds(5)
        #expect(try s.store.pruneRuns(policy, limit: 100) == 5)
        #expect(try s.store.runs(ofTask: id, limit: 100).map(\.status) == [.running])
    }

    @Test(arguments: kinds) func theAgeRuleWorksThroughTheTableInSmallWindows(kind: StoreKind) throws {
        let s = try kind.make("retention_windows")
        let now = try s.store.now()
        let id = try s.insert("busy", nextRun: nil, status: .done)
        let gone = try s.insert("gone", nextRun: nil, status: .done)
        // Twenty old runs (the first still running), one old run whose retry is pending, one of a
        // deleted task whose retry nobody can take any more, and five recent runs.
        func run(_ task: Int64, _ i: Int, age: Double, _ status: RunStatus, retry: Bool = false) -> RunRecord {
            let at = now.addingTimeInterval(-age)
            var record = RunRecord(
                taskID: task, token: ClaimToken(7), scheduledFor: at.addingTimeInterval(Double(i) / 1000),
                attempt: 0, executor: "e1", startedAt: at, finishedAt: status == .running ? nil : at, status: status)
            record.retryAt = retry ? now.addingTimeInterval(3600) : nil
            return record
        }
        var runs = (0..<20).map { run(id, $0, age: 600 - Double($0), $0 == 0 ? .running : .succeeded) }
        runs.append(run(id, 20, age: 500, .failed, retry: true))
        runs.append(run(gone, 21, age: 500, .failed, retry: true))
        runs += (22..<27).map { run(id, $0, age: 1, .succeeded) }
        for run in runs { try s.store.record(RunBatch(started: [run])) }
        _ = try s.store.delete(taskID: gone)
        var policy = RetentionPolicy()
        policy.keepPerTask = nil
        policy.maxAge = .seconds(60)
        var deleted: [Int] = []
        for _ in 0..<12 { deleted.append(try s.store.pruneRuns(policy, limit: 4)) }
        #expect(deleted.allSatisfy { $0 <= 4 })
        #expect(deleted.reduce(0, +) == 20)
        let left = try s.store.runs(ofTask: id, limit: 100)
        #expect(left.count == 7, "the running run, the pending retry and the five recent runs")
        #expect(try s.store.runs(ofTask: gone, limit: 100).isEmpty)
    }

    @Test(arguments: kinds) func registryRowsOfLongGoneExecutorsAreRemovedUnlessTheyStillHoldWork(kind: StoreKind)
        throws
    {
        let s = try kind.make("prune_executors")
        for id in ["stopped", "dead-holding", "dead-running", "alive"] {
            _ = try s.store.register(s.registration(id), lease: .milliseconds(100))
        }
        try s.store.setState(executor: "stopped", .stopped)
        try s.store.setState(executor: "dead-holding", .dead)
        try s.store.setState(executor: "dead-running", .dead)
        let now = try s.store.now()
        let held = try s.insert("held", nextRun: now.addingTimeInterval(-1))
        let running = try s.insert("running", nextRun: now.addingTimeInterval(-1))
        var request = s.request(limit: 1)
        request.executor = "dead-holding"
        #expect(try s.store.claim(request).rows.map(\.id) == [held])
        request = s.request(limit: 1)
        request.executor = "dead-running"
        let batch = try s.store.claim(request)
        let row = try #require(batch.rows.first)
        #expect(row.id == running)
        var started = s.finished(row, token: batch.token, status: .running, next: nil).run
        started.executor = "dead-running"
        try s.store.record(RunBatch(started: [started]))
        // Kept for its running run alone.
        #expect(try s.store.release(token: batch.token, taskIDs: nil) == 1)
        var policy = RetentionPolicy()
        policy.executorAge = .milliseconds(300)
        // Not yet old enough.
        #expect(try s.store.pruneExecutors(policy, limit: 100) == 0)
        try s.advance(seconds: 0.6)
        #expect(try s.store.pruneExecutors(policy, limit: 100) == 1)
        #expect(
            try Set(s.store.executors().map(\.id)).isSuperset(of: ["dead-holding", "dead-running", "alive"]))
        #expect(try s.store.executors().contains { $0.id == "stopped" } == false)
    }

    @Test(arguments: kinds) func aRunIsHeldByTheTokenItWasFirstRecordedUnder(kind: StoreKind) throws {
        let s = try kind.make("run_holders")
        let now = try s.store.now()
        _ = try s.insert("held", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 1))
        let row = try #require(batch.rows.first)
        let first = s.finished(row, token: batch.token, status: .running, next: nil).run
        try s.store.record(RunBatch(started: [first]))
        // The same attempt started again under another token (a late write): it is not taken over.
        var late = first
        late.token = ClaimToken(batch.token.rawValue == 1 ? 2 : 1)
        try s.store.record(RunBatch(started: [late]))
        var other = first
        other.attempt += 1
        let holders = try s.store.runHolders([first.key, other.key])
        #expect(holders == [first.key: batch.token])
        #expect(try s.store.runHolders([]) == [:])
    }

    @Test(arguments: kinds) func theDueBacklogCountsDueFreeActiveRowsUpToItsCap(kind: StoreKind) throws {
        let s = try kind.make("due_backlog")
        let now = try s.store.now()
        for i in 0..<5 { _ = try s.insert("due-\(i)", nextRun: now.addingTimeInterval(-10)) }
        _ = try s.insert("later", nextRun: now.addingTimeInterval(3600))
        _ = try s.insert("paused", nextRun: now.addingTimeInterval(-10), status: .paused)
        _ = try s.insert("waiting-first-fire", schedule: "* * * * *", nextRun: nil)
        // A one-shot inserted without next_run is due at once.
        _ = try s.insert("one-shot", nextRun: nil)
        #expect(try s.store.dueBacklog(cap: 100) == 6)
        #expect(try s.store.dueBacklog(cap: 3) == 3)
        _ = try s.store.claim(s.request(limit: 2))
        #expect(try s.store.dueBacklog(cap: 100) == 4)
    }

    @Test(arguments: kinds) func theCatalogListsSearchesLiterallyAndRefusesDuplicateNames(kind: StoreKind) throws {
        let s = try kind.make("catalog")
        let plan = FirePlanner.Plan(status: .active, nextRun: nil, fireAt: nil, attempt: 0, error: nil)
        _ = try s.store.insert(NewTask(name: "a_b", action: "noop"), plan: plan)
        _ = try s.store.insert(NewTask(name: "axb", action: "noop"), plan: plan)
        _ = try s.store.insert(NewTask(name: "100%", action: "noop"), plan: plan)
        #expect(throws: StoreError.self) { try s.store.insert(NewTask(name: "axb", action: "noop"), plan: plan) }
        #expect(try s.store.tasks(TaskFilter(search: "_"), after: nil, limit: 10).map(\.name) == ["a_b"])
        #expect(try s.store.tasks(TaskFilter(search: "%"), after: nil, limit: 10).map(\.name) == ["100%"])
        #expect(
            try s.store.tasks(TaskFilter(), after: TaskCursor(token: "a_b", order: .name), limit: 10).map(\.name) == [
                "axb"
            ])
        let id = try #require(try s.store.task(named: "axb")).id
        #expect(try s.store.changeStatus(taskID: id, from: [.active], to: .paused, plan: nil))
        #expect(try s.store.changeStatus(taskID: id, from: [.active], to: .paused, plan: nil) == false)
        #expect(try s.store.runNow(taskID: id, requester: "alice"))
        #expect(try s.row(id)?.status == .active)
    }

    /// Pages of two, each from the last page's cursor carried as text (as links and the API do),
    /// walk every order exactly once: nothing skipped, nothing twice, ties broken by name, tasks
    /// with no next run last, failing tasks first.
    @Test(arguments: kinds) func theTaskListPagesInEveryOrderWithoutSkippingOrRepeating(kind: StoreKind) throws {
        let s = try kind.make("task_order")
        let base = Date(timeIntervalSince1970: 1_900_000_000.123456)
        let tasks: [(String, Double?, Bool)] = [
            ("e", 30, false), ("a", 10, true), ("d", nil, false), ("b", 10, false), ("f", nil, true),
            ("c", 20.000001, false), ("g", 10, true),
        ]
        for (name, offset, failing) in tasks {
            let id = try s.insert(name, nextRun: offset.map { base.addingTimeInterval($0) })
            if failing { try s.set(id, "failing", "1") }
        }
        // A paused task keeps its next run, the soonest of all: it is not due, so it comes after
        // every active one.
        _ = try s.insert("p", nextRun: base, status: .paused)
        let expected: [TaskOrder: [String]] = [
            .name: ["a", "b", "c", "d", "e", "f", "g", "p"],
            .nextRun: ["a", "b", "g", "c", "e", "d", "f", "p"],
            .lastResult: ["a", "f", "g", "b", "c", "d", "e", "p"],
        ]
        for order in TaskOrder.allCases {
            var seen: [String] = []
            var token: String? = nil
            for _ in 0..<12 {
                let after = try token.map { try #require(TaskCursor(token: $0, order: order)) }
                let page = try s.store.tasks(TaskFilter(order: order), after: after, limit: 2)
                seen += page.map(\.name)
                guard page.count == 2 else { break }
                token = TaskCursor(after: page.last!, order: order).token
            }
            #expect(seen == expected[order], "order \(order.rawValue)")
            // Filters apply within the order.
            let failingOnly = try s.store.tasks(TaskFilter(search: "f", order: order), after: nil, limit: 10)
            #expect(failingOnly.map(\.name) == ["f"])
        }
        // Tokens that are not cursors of the order: refused, never read as something else.
        for bad in [
            "no colon", "x:-:a", "0:-:a", "1:123:a", "9:-:a", "0:99999999999999999999:a", "0:-9223372036854775808:a",
        ] {
            #expect(TaskCursor(token: bad, order: .nextRun) == nil, "\(bad)")
        }
        #expect(TaskCursor(token: "2:-:a", order: .lastResult) == nil)
        #expect(TaskCursor(token: "0:-:a:b", order: .lastResult)?.name == "a:b")
    }

    /// A run now names who asked; the runs of that fire (retries included) carry the name, and
    /// the task's next fire, from its schedule, does not.
    @Test(arguments: kinds) func aRunNowNamesWhoAskedForItsFireOnly(kind: StoreKind) throws {
        let s = try kind.make("run_now_requester")
        let id = try s.insert("asked", schedule: "@every 1h", nextRun: Date(timeIntervalSince1970: 4_000_000_000))
        #expect(try s.store.runNow(taskID: id, requester: "token:7 (alice)"))
        let row = try #require(try s.row(id))
        let fire = try #require(row.fireAt)
        #expect(row.requester(ofFire: fire) == "token:7 (alice)")
        #expect(row.requester(ofFire: fire.addingTimeInterval(3600)) == nil)
        let record = RunRecord(
            taskID: id, token: ClaimToken(99), scheduledFor: fire, attempt: 1, executor: "e1", startedAt: fire,
            finishedAt: fire.addingTimeInterval(1), status: .failed, requestedBy: row.requester(ofFire: fire))
        try s.store.record(RunBatch(finished: [FinishedRun(run: record, row: nil)]))
        let history = try s.store.runs(RunFilter(taskID: id), before: nil, limit: 10)
        #expect(history.map(\.requestedBy) == ["token:7 (alice)"])
        #expect(history.first?.startedBy == "retry of a run now by token:7 (alice)")
        #expect(try s.store.runs(ofTask: id, limit: 10).map(\.startedBy) == ["retry of a run now by token:7 (alice)"])
    }
}

/// Which store a conformance case runs on.
enum StoreKind: String, Sendable, CustomTestStringConvertible {
    case memory, mysql

    var testDescription: String { rawValue }

    func make(_ name: String) throws -> StoreUnderTest {
        switch self {
        case .memory:
            let store = InMemoryStore(clock: .manual())
            return StoreUnderTest(store: store, memory: store, db: nil)
        case .mysql:
            let db = try IntegrationEnvironment.migratedDatabase("sundial_test_store_\(name)")
            return StoreUnderTest(
                store: MySQLStore(database: db, logger: IntegrationEnvironment.logger), memory: nil, db: db)
        }
    }
}

/// A store with the few things a test does from outside it: insert rows as a user's SQL would,
/// edit them, and let time pass.
struct StoreUnderTest {
    let store: any SundialStore
    let memory: InMemoryStore?
    let db: Database?

    func request(
        limit: Int, actions: [String] = ["noop"], tags: [String] = [], lookahead: Duration = .zero
    ) -> ClaimRequest {
        ClaimRequest(token: .random(), executor: "e1", actions: actions, tags: tags, limit: limit, lookahead: lookahead)
    }

    func registration(_ id: String) -> ExecutorRegistration {
        ExecutorRegistration(id: id, host: "test", pid: 1, threads: 4, tags: [], actions: ["noop"])
    }

    func insert(
        _ name: String, action: String = "noop", schedule: String? = nil, nextRun: Date?, tags: String? = nil,
        status: TaskStatus = .active, maxConcurrency: Int = 1
    ) throws -> Int64 {
        if let memory {
            var row = TaskRow(id: 0, name: name, action: action, schedule: schedule)
            row.nextRun = nextRun
            row.fireAt = nextRun
            row.tags = tags
            row.status = status
            row.maxConcurrency = maxConcurrency
            return memory.insertRaw(row)
        }
        let id = try db!.execute(
            "INSERT INTO cron (name, action, schedule, next_run, fire_at, tags, status, max_concurrency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                .string(name), .string(action), .init(schedule), .init(nextRun), .init(nextRun), .init(tags),
                .string(status.rawValue), .int(Int64(maxConcurrency)),
            ]
        ).lastInsertID
        return Int64(id)
    }

    func row(_ id: Int64) throws -> TaskRow? {
        if let memory { return memory.allTasks.first { $0.id == id } }
        let name = try db!.query("SELECT name FROM cron WHERE id = ?", [.int(id)], consistency: .primary).first?["name"]
            .string
        return try name.flatMap { try store.task(named: $0) }
    }

    /// Sets a text column as a user's UPDATE would.
    func set(_ id: Int64, _ column: String, _ value: String) throws {
        if let memory {
            memory.edit(taskID: id) { row in
                switch column {
                case "status": row.status = TaskStatus(rawValue: value)!
                case "schedule": row.schedule = value
                case "attempt": row.attempt = Int(value)!
                case "metrics": row.metrics = value == "1"
                case "failing": row.failing = value == "1"
                case "alerts": row.alerts = value
                case "delivery": row.delivery = TaskRow.Delivery(rawValue: value)!
                case "max_concurrency": row.maxConcurrency = Int(value)!
                default: Issue.record("no such column in the test: \(column)")
                }
            }
            return
        }
        try db!.execute("UPDATE cron SET \(column) = ? WHERE id = ?", [.string(value), .int(id)])
    }

    func setNextRun(_ id: Int64, _ date: Date) throws {
        if let memory {
            memory.edit(taskID: id) { $0.nextRun = date }
            return
        }
        try db!.execute("UPDATE cron SET next_run = ? WHERE id = ?", [.date(date), .int(id)])
    }

    /// `next_run` NULL, as a new schedule leaves it for its first fire.
    func clearNextRun(_ id: Int64) throws {
        if let memory {
            memory.edit(taskID: id) { $0.nextRun = nil }
            return
        }
        try db!.execute("UPDATE cron SET next_run = NULL WHERE id = ?", [.int(id)])
    }

    func advance(seconds: Double) throws {
        if let memory {
            memory.clock.advance(by: seconds)
        } else {
            Thread.sleep(forTimeInterval: seconds)
        }
    }

    /// Starts `row`'s claimed fire as a concurrent run, moving the row on to `plan`: the run and
    /// the store's answer.
    func startConcurrent(_ row: TaskRow, token: ClaimToken, movingOnTo plan: FirePlanner.Plan) throws -> (
        RunRecord, ConcurrentStart
    ) {
        var run = finished(row, token: token, status: .running, next: nil).run
        run.concurrent = true
        return (run, try store.startConcurrentRun(run, moveOn: moveOn(row, token: token, to: plan), retrying: nil))
    }

    /// Writes the start of `finished`'s attempt, as its executor does before its result.
    func recordStart(of finished: FinishedRun) throws {
        var start = finished.run
        (start.status, start.finishedAt, start.retryAt) = (.running, nil, nil)
        try store.record(RunBatch(started: [start]))
    }

    /// Puts an ended concurrent run on record as its executor does: its start (a concurrent run
    /// is on record before it runs; a result alone would come late), then its result.
    func recordEnded(_ run: RunRecord) throws {
        let ended = FinishedRun(run: run, row: nil)
        try recordStart(of: ended)
        try store.record(RunBatch(finished: [ended]))
    }

    /// A task that runs two at once, due at `due`, its fire claimed and started as a concurrent
    /// run that moved the row on to `next`: the task and the run.
    func concurrentTaskStarted(_ name: String, due: Date, next: Date) throws -> (Int64, RunRecord) {
        let id = try insert(name, schedule: "* * * * *", nextRun: due, maxConcurrency: 2)
        let batch = try store.claim(request(limit: 1))
        let claimed = try #require(batch.rows.first)
        let (run, started) = try startConcurrent(claimed, token: batch.token, movingOnTo: Self.plan(at: next))
        #expect(started == .started)
        return (id, run)
    }

    /// A plan that moves a row on to the fire at `at`.
    static func plan(at: Date) -> FirePlanner.Plan {
        FirePlanner.Plan(status: .active, nextRun: at, fireAt: at, attempt: 0, error: nil)
    }

    /// What a concurrent start of `row`'s claimed fire makes of the row: moved on to `plan`.
    func moveOn(_ row: TaskRow, token: ClaimToken, to plan: FirePlanner.Plan) -> RowFinish {
        RowFinish(claim: Claim(taskID: row.id, token: token), plan: plan, claimed: ClaimedState(row))
    }

    /// The attempt of `row`'s pending fire, ended with `status`, and the row's change.
    func finished(_ row: TaskRow, token: ClaimToken, status: RunStatus, next: Date?) -> FinishedRun {
        let fire = row.fireAt ?? row.nextRun ?? Date(timeIntervalSince1970: 1_800_000_000)
        let run = RunRecord(
            taskID: row.id, token: token, scheduledFor: fire, attempt: row.attempt, executor: "e1", startedAt: fire,
            finishedAt: status == .running ? nil : fire.addingTimeInterval(0.25), status: status)
        let plan = FirePlanner.Plan(
            status: next == nil ? .done : .active, nextRun: next, fireAt: next, attempt: 0, error: nil)
        return FinishedRun(
            run: run,
            row: RowFinish(
                claim: Claim(taskID: row.id, token: token), plan: plan, claimed: ClaimedState(row), duration: 0.25,
                succeededAt: status == .succeeded ? run.finishedAt : nil))
    }
}

extension StoreConformanceTests {
    @Test(arguments: kinds) func aConcurrentRunsRetryIsKeptInTheStoreAndTakenOnce(kind: StoreKind) throws {
        let s = try kind.make("retries")
        _ = try s.store.register(s.registration("e1"), lease: .milliseconds(300))
        let now = try s.store.now()
        let id = try s.insert("wide", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 2)
        let batch = try s.store.claim(s.request(limit: 1))
        let claimed = try #require(batch.rows.first)
        var run = s.finished(claimed, token: batch.token, status: .running, next: nil).run
        run.concurrent = true
        run.requestedBy = "alice"
        let next = FirePlanner.Plan(
            status: .active, nextRun: now.addingTimeInterval(60), fireAt: now.addingTimeInterval(60), attempt: 0,
            error: nil)
        #expect(
            try s.store.startConcurrentRun(run, moveOn: s.moveOn(claimed, token: batch.token, to: next), retrying: nil)
                == .started)
        // It fails with attempts left: its retry is written with the result.
        var failed = run
        failed.status = .failed
        failed.finishedAt = now
        failed.retryAt = now.addingTimeInterval(-0.5)
        try s.store.record(RunBatch(finished: [FinishedRun(run: failed, row: nil)]))
        let due = try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 10)
        #expect(due.map(\.run) == [run.key])
        // The retry says who asked for the fire it retries, whatever the row asked for since.
        #expect(due.first?.row.requester(ofFire: run.scheduledFor) == "alice")
        #expect(try s.store.dueRetries(actions: ["other"], tags: [], lookahead: .zero, limit: 10).isEmpty)
        // Two executors take it; one wins.
        var retry = run
        retry.attempt = 1
        retry.token = ClaimToken(77)
        #expect(try s.store.startConcurrentRun(retry, moveOn: nil, retrying: run.key) == .started)
        var other = retry
        other.token = ClaimToken(78)
        #expect(try s.store.startConcurrentRun(other, moveOn: nil, retrying: run.key) == .claimLost)
        #expect(try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 10).isEmpty)
        #expect(try s.row(id)?.running == 1)
        // Its executor dies: the lost attempt's fire gets a retry of its own (at_least_once).
        try s.advance(seconds: 0.5)
        _ = try s.store.recover(executor: "e1", reason: "gone", self: false) { fire in
            FirePlanner.Plan(
                status: .active, nextRun: fire.now, fireAt: fire.scheduledFor, attempt: fire.attempt + 1, error: "lost")
        }
        #expect(try s.row(id)?.running == 0)
        try s.advance(seconds: 0.01)
        #expect(
            try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 10).map(\.run) == [retry.key])
    }

    /// A result the store takes in no form is abandoned: its run ends `failed` with the reason, a
    /// concurrent run gives its place back, the task is `invalid` with the reason, its row is
    /// freed; repeating it changes nothing more.
    @Test(arguments: kinds) func anAbandonedResultEndsItsRunAndMarksItsTaskInvalid(kind: StoreKind) throws {
        let s = try kind.make("abandon")
        let now = try s.store.now()
        let wide = try s.insert("wide", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 3)
        let narrow = try s.insert("narrow", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        let batch = try s.store.claim(s.request(limit: 2))
        let wideRow = try #require(batch.rows.first { $0.id == wide })
        let narrowRow = try #require(batch.rows.first { $0.id == narrow })
        let (concurrent, started) = try s.startConcurrent(
            wideRow, token: batch.token, movingOnTo: StoreUnderTest.plan(at: now.addingTimeInterval(60)))
        #expect(started == .started)
        let held = s.finished(narrowRow, token: batch.token, status: .running, next: nil).run
        try s.store.record(RunBatch(started: [held]))
        // The concurrent run failed (its alert goes with it); the held one succeeded.
        var failed = concurrent
        (failed.status, failed.finishedAt, failed.output) = (.failed, now, "too much")
        let alert = AlertDraft(
            event: .failed, subject: AlertDraft.subject(task: wide), channel: "ops", taskID: wide, run: failed.key,
            summary: "wide failed", raisedBy: "e1", dedupeWindow: .zero)
        let failedResult = FinishedRun(run: failed, row: nil, events: [.failed], alerts: [alert])
        let next = now.addingTimeInterval(60)
        var succeeded = s.finished(narrowRow, token: batch.token, status: .succeeded, next: next)
        succeeded.run.output = "too much"
        for _ in 0..<2 {
            try s.store.abandonResult(failedResult, reason: "the result could not be stored: no")
            try s.store.abandonResult(succeeded, reason: "the result could not be stored: no")
        }
        for (id, status) in [(wide, RunStatus.failed), (narrow, .succeeded)] {
            let row = try #require(try s.row(id))
            #expect(row.status == .invalid)
            #expect(row.error == "the result could not be stored: no")
            #expect(row.claimToken == nil)
            #expect(row.running == 0)
            let runs = try s.store.runs(ofTask: id, limit: 5)
            #expect(runs.map(\.status) == [status])
            #expect(runs.first?.error == "the result could not be stored: no")
            #expect(runs.first?.output == nil)
        }
        #expect(try s.row(wide)?.failing == true)
        #expect(try s.store.alerts(limit: 10).filter { $0.draft.taskID == wide }.count == 1)
        // The held row moved on past the fire that succeeded: resumed, it would not run it again.
        #expect(try s.row(narrow)?.nextRun.map { abs($0.timeIntervalSince(next)) < 0.001 } == true)
    }

    /// A lost or failed fire's retry is not starved by new fires of a busy task: new fires leave
    /// the places of retries already due to them.
    @Test(arguments: kinds) func newFiresLeaveDueRetriesTheirPlaces(kind: StoreKind) throws {
        let s = try kind.make("retry_first")
        let now = try s.store.now()
        let id = try s.insert("busy", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 2)
        let plan = FirePlanner.Plan(
            status: .active, nextRun: now.addingTimeInterval(-0.5), fireAt: now.addingTimeInterval(-0.5), attempt: 0,
            error: nil)
        func startNewFire() throws -> ConcurrentStart {
            let batch = try s.store.claim(s.request(limit: 1))
            let row = try #require(batch.rows.first)
            var run = s.finished(row, token: batch.token, status: .running, next: nil).run
            run.concurrent = true
            let answer = try s.store.startConcurrentRun(
                run, moveOn: s.moveOn(row, token: batch.token, to: plan), retrying: nil)
            if answer == .noRoom { try s.store.release(token: batch.token, taskIDs: nil) }
            return answer
        }
        // An older fire failed; its retry is due.
        var failed = s.finished(try #require(try s.row(id)), token: ClaimToken(99), status: .failed, next: nil).run
        failed.scheduledFor = now.addingTimeInterval(-300)
        (failed.concurrent, failed.finishedAt, failed.retryAt) = (true, now, now.addingTimeInterval(-0.5))
        try s.recordEnded(failed)
        #expect(try startNewFire() == .started)
        // One place left, and it is the retry's.
        #expect(try startNewFire() == .noRoom)
        var retry = failed
        (retry.attempt, retry.token, retry.status, retry.finishedAt, retry.retryAt) = (
            1, ClaimToken(77), .running, nil, nil
        )
        #expect(try s.store.startConcurrentRun(retry, moveOn: nil, retrying: failed.key) == .started)
        #expect(try s.row(id)?.running == 2)
    }

    @Test(arguments: kinds) func aConcurrentStartWithoutRoomWritesNothingAndRetriesWaitForRoom(kind: StoreKind) throws {
        let s = try kind.make("no_room")
        let now = try s.store.now()
        let id = try s.insert("narrow", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1), maxConcurrency: 2)
        let batch = try s.store.claim(s.request(limit: 1))
        let row = try #require(batch.rows.first)
        // An older fire failed and waits for its retry.
        var failed = s.finished(row, token: ClaimToken(99), status: .failed, next: nil).run
        failed.scheduledFor = now.addingTimeInterval(-300)
        failed.concurrent = true
        failed.finishedAt = now
        failed.retryAt = now.addingTimeInterval(-0.5)
        try s.recordEnded(failed)
        #expect(try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 10).count == 1)
        // Two retries of older fires fill both places after the claim.
        for attempt in 1...2 {
            var retry = s.finished(row, token: ClaimToken(Int64(100 + attempt)), status: .running, next: nil).run
            retry.scheduledFor = now.addingTimeInterval(Double(-100 * attempt))
            retry.attempt = attempt
            #expect(try s.store.startConcurrentRun(retry, moveOn: nil, retrying: nil) == .started)
        }
        let (_, answer) = try s.startConcurrent(
            row, token: batch.token, movingOnTo: StoreUnderTest.plan(at: now.addingTimeInterval(60)))
        #expect(answer == .noRoom)
        #expect(try s.row(id)?.claimToken == batch.token, "still claimed: nothing written")
        #expect(try s.row(id)?.running == 2)
        // Retries of a task without room are not handed out (taken, they could not start).
        #expect(try s.store.dueRetries(actions: ["noop"], tags: [], lookahead: .zero, limit: 10).isEmpty)
    }
}

extension StoreConformanceTests {
    /// A one-shot that failed for good and is resumed runs its fire again under the next attempt,
    /// not attempt 0 again: the run key is unique, so a repeated key would leave the new run
    /// without a history row of its own (the first writer keeps it).
    @Test(arguments: kinds) func aResumedFireContinuesItsAttemptsAfterTheLastOnRecord(kind: StoreKind) throws {
        let s = try kind.make("resume_attempts")
        let fire = try s.store.now().addingTimeInterval(-5)
        let id = try s.insert("one-shot", nextRun: fire)
        let batch = try s.store.claim(s.request(limit: 1))
        let claimed = try #require(batch.rows.first)
        var failed = s.finished(claimed, token: batch.token, status: .failed, next: nil)
        failed.row?.plan = FirePlanner.Plan(status: .dead, nextRun: nil, fireAt: fire, attempt: 0, error: "failed")
        try s.store.record(RunBatch(finished: [failed]))
        #expect(try s.row(id)?.status == .dead)
        let resume = FirePlanner.Plan(status: .active, nextRun: fire, fireAt: fire, attempt: 0, error: nil)
        #expect(try s.store.changeStatus(taskID: id, from: [.dead], to: .active, plan: resume))
        #expect(try s.row(id)?.attempt == 1)
        // A plan for another fire starts at its own attempt.
        #expect(try s.store.changeStatus(taskID: id, from: [.active], to: .paused, plan: nil))
        let later = FirePlanner.Plan(
            status: .active, nextRun: fire.addingTimeInterval(60), fireAt: fire.addingTimeInterval(60), attempt: 0,
            error: nil)
        #expect(try s.store.changeStatus(taskID: id, from: [.paused], to: .active, plan: later))
        #expect(try s.row(id)?.attempt == 0)
    }
}
