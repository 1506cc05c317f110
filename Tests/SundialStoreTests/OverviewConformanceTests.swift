import Foundation
import SundialCore
import Testing

/// The dashboard's reads: the same answers from both stores.
@Suite(.serialized) struct OverviewConformanceTests {
    static var kinds: [StoreKind] { StoreConformanceTests.kinds }

    @Test(arguments: kinds) func theOverviewCountsTasksRunsAndLagsAndListsFailuresAndNextFires(kind: StoreKind) throws {
        let s = try kind.make("overview")
        let now = try s.store.now()
        let soon = try s.insert("soon", nextRun: now.addingTimeInterval(60), tags: "billing")
        _ = try s.insert("later", nextRun: now.addingTimeInterval(600))
        _ = try s.insert("paused", nextRun: now.addingTimeInterval(30), status: .paused)
        let broken = try s.insert("broken", nextRun: now.addingTimeInterval(3600), tags: "billing")
        #expect(try s.store.taskCounts() == [.active: 3, .paused: 1])
        #expect(try s.store.nextFires(anyTags: nil, limit: 10).map(\.name) == ["soon", "later", "broken"])
        #expect(try s.store.nextFires(anyTags: nil, limit: 1).map(\.id) == [soon])
        #expect(try s.store.nextFires(anyTags: ["billing"], limit: 10).map(\.name) == ["soon", "broken"])

        // A failed last attempt marks the task failing.
        let claim = try s.store.claim(s.request(limit: 10, tags: ["billing"], lookahead: .seconds(7200)))
        let row = try #require(claim.rows.first { $0.id == broken })
        var finish = s.finished(row, token: claim.token, status: .failed, next: now.addingTimeInterval(7200))
        finish.events = [.failed]
        try s.store.record(RunBatch(finished: [finish]))
        #expect(try s.store.failingTasks(anyTags: nil, limit: 10).map(\.name) == ["broken"])
        #expect(try s.store.failingTasks(anyTags: ["hr"], limit: 10).isEmpty)

        // Runs finished an hour apart fall in buckets of their own; lags are of first attempts.
        // (Written under the claim that holds the row: a start under a claim that is gone is late.)
        var runs: [RunRecord] = []
        for (i, status) in [RunStatus.succeeded, .succeeded, .failed, .timedOut].enumerated() {
            let start = now.addingTimeInterval(-Double(i) * 1800 - 60)
            runs.append(
                RunRecord(
                    taskID: soon, token: claim.token, scheduledFor: start.addingTimeInterval(-Double(i + 1)),
                    attempt: i == 3 ? 1 : 0, executor: "e1", startedAt: start, finishedAt: start.addingTimeInterval(10),
                    status: status))
        }
        try s.store.record(RunBatch(started: runs))
        let all = try s.store.runOutcomes(
            from: now.addingTimeInterval(-86_400), to: now.addingTimeInterval(1), bucket: .seconds(1 << 40))
        var totals: [RunStatus: Int] = [:]
        for count in all { totals[count.status, default: 0] += count.count }
        #expect(totals[.succeeded] == 2 && totals[.timedOut] == 1)
        // (The claimed row's failure is dated at its fire, an hour ahead: outside the period.)
        #expect(totals[.failed] == 1)
        let hourly = try s.store.runOutcomes(
            from: now.addingTimeInterval(-86_400), to: now.addingTimeInterval(1), bucket: .seconds(3600))
        #expect(hourly.allSatisfy { $0.bucket.timeIntervalSince1970.truncatingRemainder(dividingBy: 3600) == 0 })
        #expect(hourly.reduce(0) { $0 + $1.count } == 4)
        // (The claimed row's run started at its fire, without lag.)
        let lags = try s.store.startLags(since: now.addingTimeInterval(-3600), sample: 100).sorted().filter { $0 > 0 }
        #expect(lags.count == 2)
        #expect(abs(lags[0] - 1) < 0.01 && abs(lags[1] - 2) < 0.01)
        #expect(try s.store.startLags(since: now.addingTimeInterval(-3600), sample: 1).count == 1)
    }
}
