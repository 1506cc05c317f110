import Foundation
import SundialCore
import Testing

/// Every task's runs, newest first, filtered and paged: the same answers from both stores.
@Suite(.serialized) struct RunHistoryConformanceTests {
    static var kinds: [StoreKind] { StoreConformanceTests.kinds }

    @Test(arguments: kinds) func runsAreListedNewestFirstByEveryFilterWithoutTheirOutput(kind: StoreKind) throws {
        let s = try kind.make("run_history")
        let now = try s.store.now()
        let billing = try s.insert("invoices", nextRun: nil, tags: "billing", status: .done)
        let hr = try s.insert("payroll", nextRun: nil, tags: "hr", status: .done)
        var runs: [RunRecord] = []
        for i in 0..<10 {
            let at = now.addingTimeInterval(Double(i) * 60 - 3600)
            var run = RunRecord(
                taskID: i % 2 == 0 ? billing : hr, token: ClaimToken(9), scheduledFor: at, attempt: 0,
                executor: i < 5 ? "e1" : "e2", startedAt: at, finishedAt: at.addingTimeInterval(1),
                status: i % 3 == 0 ? .failed : .succeeded)
            run.output = "output \(i)"
            runs.append(run)
        }
        try s.store.record(RunBatch(started: runs))
        let all = try s.store.runs(RunFilter(), before: nil, limit: 100)
        #expect(all.count == 10)
        #expect(all.map(\.id) == all.map(\.id).sorted(by: >))
        #expect(all.allSatisfy { $0.output == nil })
        #expect(all.first?.taskName == "payroll" && all.last?.taskName == "invoices")

        let page = try s.store.runs(RunFilter(), before: all[3].id, limit: 3)
        #expect(page.map(\.id) == Array(all[4..<7].map(\.id)))
        #expect(try s.store.runs(RunFilter(status: .failed), before: nil, limit: 100).count == 4)
        #expect(try s.store.runs(RunFilter(taskID: billing), before: nil, limit: 100).count == 5)
        #expect(try s.store.runs(RunFilter(executor: "e2"), before: nil, limit: 100).count == 5)
        #expect(try s.store.runs(RunFilter(executor: "' OR 1=1 --"), before: nil, limit: 100).isEmpty)
        let recent = try s.store.runs(RunFilter(since: now.addingTimeInterval(-3600 + 6 * 60)), before: nil, limit: 100)
        #expect(recent.count == 4)
        #expect(try s.store.runs(RunFilter(since: now.addingTimeInterval(60)), before: nil, limit: 100).isEmpty)
        let scoped = try s.store.runs(RunFilter(anyTags: ["hr"]), before: nil, limit: 100)
        #expect(scoped.count == 5 && scoped.allSatisfy { $0.taskName == "payroll" })
        #expect(
            try s.store.runs(RunFilter(status: .failed, taskID: hr, executor: "e2"), before: nil, limit: 100).count == 1
        )

        // One run comes with its output; a deleted task's runs stay, without a name.
        let one = try #require(try s.store.run(id: all[0].id))
        #expect(one.output == "output 9" && one.taskName == "payroll")
        #expect(try s.store.run(id: 987_654_321) == nil)
        #expect(try s.store.delete(taskID: hr))
        let orphan = try #require(try s.store.run(id: all[0].id))
        #expect(orphan.taskName == nil && orphan.taskID == hr)
        #expect(try s.store.runs(RunFilter(anyTags: ["hr"]), before: nil, limit: 100).isEmpty)
    }
}

/// Output so far of running attempts.
@Suite(.serialized) struct RunProgressConformanceTests {
    @Test(arguments: StoreConformanceTests.kinds) func outputSoFarIsWrittenOnlyWhileTheRunRunsUnderItsToken(
        kind: StoreKind
    ) throws {
        let s = try kind.make("run_progress")
        let now = try s.store.now()
        let task = try s.insert("job", nextRun: nil, status: .done)
        let token = ClaimToken(77)
        let run = RunRecord(
            taskID: task, token: token, scheduledFor: now, attempt: 0, executor: "e1", startedAt: now, finishedAt: nil,
            status: .running)
        try s.store.record(RunBatch(started: [run]))
        try s.store.record(RunBatch(progress: [RunProgress(key: run.key, token: token, output: "one\n")]))
        let id = try #require(try s.store.runs(RunFilter(), before: nil, limit: 1).first?.id)
        #expect(try s.store.run(id: id)?.output == "one\n")
        // Another token's progress (a fire that changed hands) writes nothing.
        try s.store.record(RunBatch(progress: [RunProgress(key: run.key, token: ClaimToken(78), output: "stolen")]))
        #expect(try s.store.run(id: id)?.output == "one\n")
        // The final output wins, even over progress in the same batch or after it.
        var ended = run
        (ended.status, ended.finishedAt, ended.output) = (.succeeded, now.addingTimeInterval(1), "one\ntwo\n")
        try s.store.record(
            RunBatch(
                finished: [FinishedRun(run: ended, row: nil)],
                progress: [RunProgress(key: run.key, token: token, output: "one\n(partial)")]))
        try s.store.record(RunBatch(progress: [RunProgress(key: run.key, token: token, output: "late")]))
        #expect(try s.store.run(id: id)?.output == "one\ntwo\n")
    }
}
