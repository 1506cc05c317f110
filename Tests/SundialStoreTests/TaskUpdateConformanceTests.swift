import Foundation
import SundialCore
import Testing

/// Replacing a task's settings: the same on both stores.
@Suite(.serialized) struct TaskUpdateConformanceTests {
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
