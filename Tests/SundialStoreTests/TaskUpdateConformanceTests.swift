import Foundation
import SundialCore
import Testing

/// Replacing a task's settings: the same on both stores.
@Suite(.serialized) struct TaskUpdateConformanceTests {
    /// A one-shot edited after its fire ran (made invalid by a result that could not be stored,
    /// say) is planned again at the same instant: its next attempt follows the last on record,
    /// so that it has a run key, and a history row, of its own.
    @Test(arguments: StoreConformanceTests.kinds) func aFirePlannedAgainGoesOnAfterItsLastAttemptOnRecord(
        kind: StoreKind
    ) throws {
        let s = try kind.make("task_update_attempts")
        let fire = Date(timeIntervalSince1970: 1_900_000_000)
        let id = try s.insert("once", schedule: "@at 2030-03-17T17:46:40Z", nextRun: fire, status: .invalid)
        for attempt in 0..<2 {
            let run = RunRecord(
                taskID: id, token: ClaimToken(3), scheduledFor: fire, attempt: attempt, executor: "e1",
                startedAt: fire, finishedAt: fire, status: .succeeded)
            try s.store.record(RunBatch(started: [run]))
        }
        var settings = NewTask(name: "once", action: "noop")
        settings.schedule = "@at 2030-03-17T17:46:40Z"
        let again = FirePlanner.Plan(status: .active, nextRun: fire, fireAt: fire, attempt: 0, error: nil)
        #expect(try s.store.update(taskID: id, to: settings, plan: again))
        #expect(try s.row(id)?.attempt == 2)
        #expect(try s.row(id)?.status == .active)
        // Another fire starts from attempt 0.
        let other = FirePlanner.Plan(
            status: .active, nextRun: fire.addingTimeInterval(60), fireAt: fire.addingTimeInterval(60), attempt: 0,
            error: nil)
        #expect(try s.store.update(taskID: id, to: settings, plan: other))
        #expect(try s.row(id)?.attempt == 0)
    }

    @Test(arguments: StoreConformanceTests.kinds) func anUpdateReplacesEverySettingAndPlansOnlyWhenAsked(
        kind: StoreKind
    ) throws {
        let s = try kind.make("task_update")
        let now = try s.store.now()
        let id = try s.insert("report", schedule: "0 3 * * *", nextRun: now.addingTimeInterval(600), tags: "a")
        var settings = NewTask(name: "ignored", action: "shell")
        settings.payload = #"{"command":"true"}"#
        settings.schedule = "0 3 * * *"
        settings.timezone = "Europe/Paris"
        (settings.maxAttempts, settings.backoffSeconds, settings.timeoutSeconds, settings.maxConcurrency) = (
            4, 2.5, 60, 3
        )
        (settings.misfirePolicy, settings.delivery, settings.tags, settings.alerts) = (
            .runAll, .atMostOnce, "b,c", "ops"
        )
        (settings.alertLateSeconds, settings.metrics) = (90, true)
        #expect(try s.store.update(taskID: id, to: settings, plan: nil))
        let row = try #require(try s.row(id))
        #expect(row.name == "report" && row.action == "shell" && row.payload == #"{"command":"true"}"#)
        #expect(row.timezone == "Europe/Paris" && row.maxAttempts == 4 && row.backoffSeconds == 2.5)
        #expect(row.timeoutSeconds == 60 && row.maxConcurrency == 3 && row.misfirePolicy == .runAll)
        #expect(row.delivery == .atMostOnce && row.tags == "b,c" && row.alerts == "ops" && row.alertLateSeconds == 90)
        #expect(row.metrics)
        // Without a plan the pending fire stays; nil settings are the columns' defaults.
        #expect(abs((row.nextRun ?? .distantPast).timeIntervalSince(now.addingTimeInterval(600))) < 0.01)
        let plan = FirePlanner.Plan(
            status: .active, nextRun: now.addingTimeInterval(60), fireAt: now.addingTimeInterval(60), attempt: 0,
            error: nil)
        #expect(try s.store.update(taskID: id, to: NewTask(name: "x", action: "noop"), plan: plan))
        let reset = try #require(try s.row(id))
        #expect(reset.action == "noop" && reset.maxAttempts == 1 && reset.timeoutSeconds == 3600 && reset.tags == nil)
        #expect(abs((reset.nextRun ?? .distantPast).timeIntervalSince(now.addingTimeInterval(60))) < 0.01)
        // The same values again still find the task; a missing one is not found.
        #expect(try s.store.update(taskID: id, to: NewTask(name: "x", action: "noop"), plan: nil))
        #expect(try !s.store.update(taskID: 987_654, to: NewTask(name: "x", action: "noop"), plan: nil))
    }
}
