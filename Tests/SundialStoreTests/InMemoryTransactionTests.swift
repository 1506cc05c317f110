import Foundation
import SundialCore
import SundialMemoryStore
import Synchronization
import Testing

/// The in-memory store's model of a transaction left open by a client cut off in its middle, as
/// the simulator uses it: its changes never show, its row locks make claims pass the rows by and
/// other writes to them fail as a lock wait does, until the server rolls it back.
@Suite struct InMemoryTransactionTests {
    /// A store whose next call of `operation` is cut off inside its transaction.
    func store(cutting operation: StoreOperation, idleTimeout: TimeInterval? = 3) -> InMemoryStore {
        let store = InMemoryStore(clock: .manual(), idleTransactionTimeout: idleTimeout)
        let armed = Mutex(true)
        store.injectFaults { called in
            guard called == operation else { return nil }
            return armed.withLock { armed in
                defer { armed = false }
                return armed ? .cutOffInTransaction : nil
            }
        }
        return store
    }

    func request(_ executor: String, limit: Int = 10) -> ClaimRequest {
        ClaimRequest(token: .random(), executor: executor, actions: ["noop"], tags: [], limit: limit, lookahead: .zero)
    }

    func insertDue(_ store: InMemoryStore, _ names: [String]) -> [Int64] {
        names.map { name in
            var row = TaskRow(id: 0, name: name, action: "noop", schedule: "* * * * *")
            row.nextRun = store.clock.now.addingTimeInterval(-1)
            row.fireAt = row.nextRun
            return store.insertRaw(row)
        }
    }

    @Test func aClaimCutOffInItsTransactionLocksItsRowsUntilTheServerRollsItBack() throws {
        let store = store(cutting: .claim)
        let ids = insertDue(store, ["a", "b"])
        #expect(throws: StoreError.self) { try store.claim(request("frozen", limit: 1)) }
        // Nothing it did shows, and its row is passed by (SKIP LOCKED), not waited for.
        #expect(store.allTasks.allSatisfy { $0.claimToken == nil })
        #expect(store.openTransactionCount == 1)
        #expect(try store.claim(request("other")).rows.map(\.id) == [ids[1]])
        // A write to the locked row waits out its lock wait and fails; the edit is not applied.
        #expect(!store.edit(taskID: ids[0]) { $0.schedule = "@every 5s" })
        #expect(throws: StoreError.self) {
            _ = try store.changeStatus(taskID: ids[0], from: [.active], to: .paused, plan: nil)
        }
        #expect(store.allTasks.first { $0.id == ids[0] }?.status == .active)
        // The server ends the idle transaction: its row is free and was never claimed.
        store.clock.advance(by: 3)
        #expect(try store.claim(request("other")).rows.map(\.id) == [ids[0]])
        #expect(store.openTransactionCount == 0)
    }

    @Test func withoutAnIdleBoundTheLocksOutliveEveryone() throws {
        let store = store(cutting: .claim, idleTimeout: nil)
        let ids = insertDue(store, ["a"])
        #expect(throws: StoreError.self) { try store.claim(request("frozen")) }
        store.clock.advance(by: 8 * 3600)
        #expect(try store.claim(request("other")).rows.isEmpty)
        #expect(!store.edit(taskID: ids[0]) { $0.schedule = "@every 5s" })
    }

    @Test func aResultCutOffInItsTransactionIsNeverApplied() throws {
        let store = store(cutting: .record)
        let ids = insertDue(store, ["a"])
        let batch = try store.claim(request("e1"))
        let row = try #require(batch.rows.first)
        let run = RunRecord(
            taskID: row.id, token: batch.token, scheduledFor: row.fireAt!, attempt: 0, executor: "e1",
            startedAt: store.clock.now, finishedAt: store.clock.now, status: .succeeded)
        let plan = FirePlanner.Plan(
            status: .active, nextRun: store.clock.now.addingTimeInterval(60), fireAt: nil, attempt: 0, error: nil)
        let finish = FinishedRun(
            run: run,
            row: RowFinish(claim: Claim(taskID: row.id, token: batch.token), plan: plan, claimed: ClaimedState(row)))
        #expect(throws: StoreError.self) { try store.record(RunBatch(finished: [finish])) }
        #expect(store.allRuns.isEmpty)
        // Written again while the lock stands: it waits, and fails.
        #expect(throws: StoreError.self) { try store.record(RunBatch(finished: [finish])) }
        store.clock.advance(by: 3.5)
        try store.record(RunBatch(finished: [finish]))
        #expect(store.allRuns.map(\.status) == [.succeeded])
        #expect(store.allTasks.first { $0.id == ids[0] }?.claimToken == nil)
    }
}
