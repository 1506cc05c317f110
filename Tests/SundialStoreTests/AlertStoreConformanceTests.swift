import Foundation
import SundialCore
import Testing

/// The alert rules every store keeps: deduplication, the claim and fence of deliveries, alerts
/// written with the run they are about, the late-fire and per-task reads.
extension StoreConformanceTests {
    func draft(
        _ event: AlertEvent = .failed, subject: String = "task:1", channel: String = "ops",
        window: Duration = .seconds(600)
    ) -> AlertDraft {
        AlertDraft(
            event: event, subject: subject, channel: channel, taskID: 1, taskName: "nightly",
            summary: "nightly \(event.rawValue)", detail: "exit status 3", raisedBy: "e1", dedupeWindow: window)
    }

    @Test(arguments: kinds) func alertsAreDeduplicatedPerEventSubjectAndChannelWithinTheirWindow(kind: StoreKind) throws
    {
        let s = try kind.make("alert_dedupe")
        #expect(try s.store.raise([draft(), draft()]) == 1)
        #expect(try s.store.raise([draft()]) == 0)
        // Another channel, event or subject is another alert.
        #expect(try s.store.raise([draft(channel: "mail"), draft(.timedOut), draft(subject: "task:2")]) == 3)
        // Past its window, the same alert is raised again.
        #expect(try s.store.raise([draft(.missed, window: .milliseconds(500))]) == 1)
        try s.advance(seconds: 1)
        #expect(try s.store.raise([draft(.missed, window: .milliseconds(500))]) == 1)
        #expect(try s.store.raise([draft(.missed, window: .milliseconds(500))]) == 0)
        // A recovery ends the failure's window: the next failure is news, and so is the next recovery.
        #expect(try s.store.raise([draft(.recovered, subject: "task:9")]) == 1)
        #expect(try s.store.raise([draft(.failed, subject: "task:9")]) == 1)
        #expect(try s.store.raise([draft(.recovered, subject: "task:9")]) == 1)
        #expect(try s.store.raise([draft(.failed, subject: "task:9")]) == 1)
        #expect(try s.store.raise([draft(.failed, subject: "task:9")]) == 0)
        let stored = try s.store.alerts(limit: 100).filter { $0.draft.subject != "task:9" }
        #expect(stored.count == 6)
        #expect(stored.first?.draft.event == .missed && stored.allSatisfy { $0.status == .pending })
        #expect(stored.last?.draft.summary == "nightly failed" && stored.last?.draft.detail == "exit status 3")
        #expect(stored.last?.draft.taskName == "nightly" && stored.last?.draft.taskID == 1)
    }

    @Test(arguments: kinds) func anAlertsDeliveryIsClaimedFencedRetriedAndGivenUp(kind: StoreKind) throws {
        let s = try kind.make("alert_delivery")
        try s.store.raise([draft(), draft(channel: "mail")])
        let a = try s.store.claimAlerts(channel: "ops", by: "a", token: ClaimToken(1), lease: .seconds(30), limit: 10)
        #expect(a.map(\.attempts) == [1])
        let id = try #require(a.first?.id)
        // Held: nobody else takes it, and only its token settles it.
        #expect(
            try s.store.claimAlerts(channel: "ops", by: "b", token: ClaimToken(2), lease: .seconds(30), limit: 10)
                .isEmpty)
        #expect(try !s.store.settleAlert(id: id, token: ClaimToken(2), delivered: true, error: nil, retryIn: nil))
        // A failure waits for its retry.
        #expect(
            try s.store.settleAlert(
                id: id, token: ClaimToken(1), delivered: false, error: "HTTP 503", retryIn: .seconds(1)))
        #expect(
            try s.store.claimAlerts(channel: "ops", by: "b", token: ClaimToken(2), lease: .seconds(30), limit: 10)
                .isEmpty)
        try s.advance(seconds: 1.2)
        let b = try s.store.claimAlerts(
            channel: "ops", by: "b", token: ClaimToken(2), lease: .milliseconds(500), limit: 10)
        #expect(b.map(\.attempts) == [2] && b.first?.error == "HTTP 503")
        // b's claim runs out (b died mid-delivery): c delivers it, and b's late word is fenced out.
        try s.advance(seconds: 1)
        let c = try s.store.claimAlerts(channel: "ops", by: "c", token: ClaimToken(3), lease: .seconds(30), limit: 10)
        #expect(c.map(\.attempts) == [3])
        #expect(try !s.store.settleAlert(id: id, token: ClaimToken(2), delivered: false, error: "late", retryIn: nil))
        #expect(try s.store.settleAlert(id: id, token: ClaimToken(3), delivered: true, error: nil, retryIn: nil))
        // Settling again is harmless.
        #expect(try !s.store.settleAlert(id: id, token: ClaimToken(3), delivered: true, error: nil, retryIn: nil))
        let delivered = try #require(try s.store.alerts(limit: 10).first { $0.id == id })
        #expect(delivered.status == .delivered && delivered.deliveredAt != nil && delivered.attempts == 3)
        #expect(
            try s.store.claimAlerts(channel: "ops", by: "a", token: ClaimToken(4), lease: .seconds(30), limit: 10)
                .isEmpty)

        // Given up: failed for good, never claimed again.
        try s.store.raise([draft(.dead)])
        let d = try s.store.claimAlerts(channel: "ops", by: "a", token: ClaimToken(5), lease: .seconds(30), limit: 10)
        #expect(d.count == 1)
        #expect(
            try s.store.settleAlert(id: d[0].id, token: ClaimToken(5), delivered: false, error: "refused", retryIn: nil)
        )
        #expect(try s.store.alerts(limit: 1).first?.status == .failed)
        #expect(
            try s.store.claimAlerts(channel: "ops", by: "a", token: ClaimToken(6), lease: .seconds(30), limit: 10)
                .isEmpty)
        // Old settled alerts are pruned; pending ones never are.
        try s.store.raise([draft(.missed)])
        try s.advance(seconds: 0.1)
        #expect(try s.store.pruneAlerts(before: try s.store.now(), limit: 100) == 2)
        #expect(try s.store.alerts(limit: 10).map(\.draft.event) == [.missed, .failed])
        // Each channel's alerts are claimed on their own.
        let mail = try s.store.claimAlerts(
            channel: "mail", by: "a", token: ClaimToken(7), lease: .seconds(30), limit: 10)
        #expect(mail.map(\.draft.channel) == ["mail"])
    }

    @Test(arguments: kinds) func aRunsAlertsAreWrittenWithItAndKeepTheTasksFailingFlag(kind: StoreKind) throws {
        let s = try kind.make("alert_runs")
        let now = try s.store.now()
        let id = try s.insert("nightly", schedule: "* * * * *", nextRun: now.addingTimeInterval(-1))
        var batch = try s.store.claim(s.request(limit: 1))
        var row = try #require(batch.rows.first)
        var failed = s.finished(row, token: batch.token, status: .failed, next: now.addingTimeInterval(-0.5))
        failed.events = [.failed]
        failed.alerts = [draft(.failed, subject: "task:\(id)", window: .zero)]
        try s.store.record(RunBatch(finished: [failed]))
        #expect(try s.row(id)?.failing == true)
        #expect(try s.store.alerts(limit: 10).map(\.draft.event) == [.failed])
        // A repeat of a result already on record (its answer was lost) raises nothing more.
        try s.store.record(RunBatch(finished: [failed]))
        #expect(try s.store.alerts(limit: 10).count == 1)

        batch = try s.store.claim(s.request(limit: 1))
        row = try #require(batch.rows.first)
        #expect(row.failing)
        var succeeded = s.finished(row, token: batch.token, status: .succeeded, next: now.addingTimeInterval(60))
        succeeded.events = [.recovered]
        succeeded.alerts = [draft(.recovered, subject: "task:\(id)", window: .zero)]
        try s.store.record(RunBatch(finished: [succeeded]))
        let after = try #require(try s.row(id))
        #expect(!after.failing)
        #expect(after.lastSuccessAt.map { abs($0.timeIntervalSince(succeeded.run.finishedAt!)) < 0.001 } == true)
        #expect(try s.store.alerts(limit: 10).map(\.draft.event) == [.recovered, .failed])

        // A second success that was claimed while the task was failing says nothing more.
        batch = try s.store.claim(s.request(limit: 1, lookahead: .seconds(120)))
        row = try #require(batch.rows.first)
        var again = s.finished(row, token: batch.token, status: .succeeded, next: now.addingTimeInterval(120))
        again.events = [.recovered]
        again.alerts = [draft(.recovered, subject: "task:\(id)", window: .zero)]
        try s.store.record(RunBatch(finished: [again]))
        #expect(try s.store.alerts(limit: 10).count == 2)
    }

    @Test(arguments: kinds) func recoveryRaisesExecutorDeadAndGivenUpFiresInItsTransaction(kind: StoreKind) throws {
        let s = try kind.make("alert_recovery")
        let now = try s.store.now()
        let id = try s.insert("once", nextRun: now.addingTimeInterval(-1))
        try s.set(id, "delivery", "at_most_once")
        _ = try s.store.register(s.registration("e1"), lease: .seconds(1))
        let batch = try s.store.claim(s.request(limit: 1))
        let row = try #require(batch.rows.first)
        try s.store.record(RunBatch(started: [s.finished(row, token: batch.token, status: .running, next: nil).run]))
        try s.advance(seconds: 1.5)
        let report = try s.store.recover(
            executor: "e1", reason: "gone", self: false,
            plan: { fire in
                FirePlanner(row: fire.row, schedule: nil).afterInterruption(
                    fireAt: fire.scheduledFor, attempt: fire.attempt, now: fire.now, reason: "gone")
            },
            alerts: { event in
                switch event {
                case .executorDead(let holder):
                    [self.draft(.executorDead, subject: "executor:\(holder)", window: .zero)]
                case .fireGivenUp(let fire, _, let events):
                    events.map { self.draft($0, subject: "task:\(fire.row.id)", window: .zero) }
                }
            })
        #expect(report.recovered)
        #expect(Set(try s.store.alerts(limit: 10).map(\.draft.event)) == [.executorDead, .dead])
        #expect(try s.row(id)?.status == .dead && s.row(id)?.failing == true)
        // Recovered once: a second look raises nothing.
        _ = try s.store.recover(
            executor: "e1", reason: "gone", self: false,
            plan: { _ in FirePlanner.Plan(status: .active, nextRun: nil, fireAt: nil, attempt: 0, error: nil) },
            alerts: { _ in [self.draft(.executorDead, window: .zero)] })
        #expect(try s.store.alerts(limit: 10).count == 2)
    }

    @Test(arguments: kinds) func lateFiresAndOptedInTasksAreReadForAlertsAndMetrics(kind: StoreKind) throws {
        let s = try kind.make("alert_reads")
        let now = try s.store.now()
        let oldest = try s.insert("oldest", schedule: "* * * * *", nextRun: now.addingTimeInterval(-300))
        let late = try s.insert("late", schedule: "* * * * *", nextRun: now.addingTimeInterval(-120), tags: "gpu")
        _ = try s.insert("on-time", schedule: "* * * * *", nextRun: now.addingTimeInterval(-5))
        _ = try s.insert("paused", schedule: "* * * * *", nextRun: now.addingTimeInterval(-300), status: .paused)
        let claimed = try s.insert("claimed", schedule: "* * * * *", nextRun: now.addingTimeInterval(-200))
        let taken = try s.store.claim(s.request(limit: 1))
        #expect(taken.rows.map(\.id) == [oldest])
        _ = try s.store.release(token: taken.token, taskIDs: nil)
        let holding = try s.store.claim(s.request(limit: 2))
        #expect(Set(holding.rows.map(\.id)) == [oldest, claimed])
        _ = try s.store.release(token: holding.token, taskIDs: [oldest])

        let overdue = try s.store.overdueFires(lateBy: .seconds(60), after: nil, limit: 10)
        #expect(overdue.map(\.row.id) == [oldest, late])
        #expect(overdue.first.map { $0.late >= .seconds(299) && $0.late < .seconds(330) } == true)
        #expect(overdue.last?.row.tags == "gpu" && overdue.last?.row.payload == nil)
        // A page at a time: the next page starts after the last row of the one before.
        let first = try s.store.overdueFires(lateBy: .seconds(60), after: nil, limit: 1)
        #expect(first.map(\.row.id) == [oldest])
        let second = try s.store.overdueFires(lateBy: .seconds(60), after: OverdueCursor(first[0].row), limit: 1)
        #expect(second.map(\.row.id) == [late])
        #expect(try s.store.overdueFires(lateBy: .seconds(60), after: OverdueCursor(second[0].row), limit: 1).isEmpty)

        try s.set(late, "metrics", "1")
        try s.set(claimed, "metrics", "1")
        let series = try s.store.taskSeries(limit: 10)
        #expect(series.map(\.name) == ["claimed", "late"])
        #expect(series.map(\.running) == [1, 0])
        #expect(series[1].nextFire.map { abs($0.timeIntervalSince(now.addingTimeInterval(-120))) < 0.001 } == true)
        #expect(series[1].lastSuccess == nil)
    }
}
