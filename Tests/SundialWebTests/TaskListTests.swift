import Foundation
import Hummingbird
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

/// The task list's orders and its bulk actions, as an operator uses them.
@Suite struct TaskListTests {
    static func add(_ harness: ConsoleHarness, _ name: String, tags: String? = nil, schedule: String? = "@every 1h")
        throws
    {
        var task = NewTask(name: name, action: "noop")
        (task.tags, task.schedule) = (tags, schedule)
        try harness.services.admin.add(task)
    }

    /// The names in a listing page, in the order shown.
    static func names(_ page: String) -> [String] {
        page.components(separatedBy: #"<a href="/task?name="#).dropFirst().compactMap {
            $0.split(separator: ">", maxSplits: 1).last?.split(separator: "<").first.map(String.init)
        }
    }

    /// The digest of the tasks a confirmation page names.
    static func digest(_ page: String) -> String? {
        page.range(of: #"name="digest" value="[0-9a-f]{64}""#, options: .regularExpression).map {
            String(page[$0].dropFirst(#"name="digest" value=""#.count).dropLast())
        }
    }

    @Test func selectedTasksArePausedAfterAConfirmationThatCountsThem() async throws {
        let harness = try await ConsoleHarness()
        for name in ["a1", "a2", "a3"] { try Self.add(harness, name) }
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("operator")
            let list = try await browser.get("/tasks").text
            #expect(list.contains(#"<input type="checkbox" form="bulk" name="name" value="a1""#))
            let review = try await browser.post(
                "/tasks/bulk", [("verb", "pause"), ("scope", "selected"), ("name", "a1"), ("name", "a3")])
            #expect(review.status == .ok)
            #expect(review.text.contains("Pause the 2 selected tasks?"))
            // Nothing is done before the confirmation.
            #expect(try harness.store.task(named: "a1")?.status == .active)
            let done = try await browser.post(
                "/tasks/bulk",
                [("confirm", "1"), ("verb", "pause"), ("scope", "selected"), ("name", "a1"), ("name", "a3")])
            #expect(done.text.contains("Pause: 2 of 2 task(s) changed."))
            #expect(try harness.store.task(named: "a1")?.status == .paused)
            #expect(try harness.store.task(named: "a2")?.status == .active)
            #expect(try harness.store.task(named: "a3")?.status == .paused)
            // Each task is audited on its own; one that cannot be paused again is reported.
            #expect(try harness.store.auditLog(AuditFilter(action: .taskPause), before: nil, limit: 10).count == 2)
            let again = try await browser.post(
                "/tasks/bulk", [("confirm", "1"), ("verb", "pause"), ("scope", "selected"), ("name", "a1")])
            #expect(again.text.contains("Pause: 0 of 1 task(s) changed.") && again.text.contains("it is not active"))
            // Nothing selected: said so, nothing done.
            let none = try await browser.post("/tasks/bulk", [("verb", "delete"), ("scope", "selected")])
            #expect(none.status == .seeOther || none.status == .found)
            #expect(none.headers[.location]?.contains("select%20at%20least%20one%20task") == true)
        }
    }

    @Test func everyTaskMatchingTheFilterIsCountedThenChangedWithinTheUsersTags() async throws {
        let harness = try await ConsoleHarness()
        for index in 1...7 { try Self.add(harness, "etl-\(index)", tags: index <= 5 ? "etl" : "ops") }
        try Self.add(harness, "report", tags: "etl")
        try harness.addUser("etl-operator", role: .operator, tags: ["etl"])
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("etl-operator")
            try await browser.get("/tasks?q=etl-")
            let review = try await browser.post("/tasks/bulk", [("verb", "run"), ("scope", "filter"), ("q", "etl-")])
            // Seven names match, five within the user's tags: only those are counted.
            #expect(review.text.contains("every task matching the filter: 5 tasks"))
            let digest = try #require(Self.digest(review.text))
            let done = try await browser.post(
                "/tasks/bulk",
                [("confirm", "1"), ("verb", "run"), ("scope", "filter"), ("q", "etl-"), ("digest", digest)])
            #expect(done.text.contains("Run now: 5 of 5 task(s) changed."))
            let asked = try harness.store.auditLog(AuditFilter(action: .taskRunNow), before: nil, limit: 20)
            #expect(Set(asked.compactMap(\.draft.subject)) == Set((1...5).map { "etl-\($0)" }))
            // Selecting a task outside the tags by name does nothing to it.
            let outside = try await browser.post(
                "/tasks/bulk", [("confirm", "1"), ("verb", "pause"), ("scope", "selected"), ("name", "etl-7")])
            #expect(outside.text.contains("0 of 1") && outside.text.contains("no task named"))
            #expect(try harness.store.task(named: "etl-7")?.status == .active)
            // Another task matches by the time the confirmation comes back: nothing is done, and
            // the page asks again with the tasks matching now.
            let pause = try await browser.post("/tasks/bulk", [("verb", "pause"), ("scope", "filter"), ("q", "etl-")])
            let confirmed = try #require(Self.digest(pause.text))
            try Self.add(harness, "etl-8", tags: "etl")
            let drift = try await browser.post(
                "/tasks/bulk",
                [("confirm", "1"), ("verb", "pause"), ("scope", "filter"), ("q", "etl-"), ("digest", confirmed)])
            #expect(drift.text.contains("changed since this page was shown: nothing was done"))
            #expect(drift.text.contains("every task matching the filter: 6 tasks"))
            #expect(try harness.store.tasks(TaskFilter(status: .paused), after: nil, limit: 10).isEmpty)
            let fresh = try #require(Self.digest(drift.text))
            let again = try await browser.post(
                "/tasks/bulk",
                [("confirm", "1"), ("verb", "pause"), ("scope", "filter"), ("q", "etl-"), ("digest", fresh)])
            #expect(again.text.contains("Pause: 6 of 6 task(s) changed."))
        }
    }

    @Test func viewersHaveNoBulkFormAndTheirBulkPostsAreRefused() async throws {
        let harness = try await ConsoleHarness()
        try Self.add(harness, "keep")
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let list = try await browser.get("/tasks").text
            #expect(!list.contains("/tasks/bulk") && !list.contains(#"type="checkbox""#))
            let refused = try await browser.post(
                "/tasks/bulk", [("confirm", "1"), ("verb", "delete"), ("scope", "selected"), ("name", "keep")])
            #expect(refused.status == .forbidden)
            #expect(try harness.store.task(named: "keep") != nil)
        }
    }

    @Test func theListSortsByNextRunAndByLastResult() async throws {
        let harness = try await ConsoleHarness()
        // Hourly tasks whose first fires are an hour away; `soon` fires in a minute; `a-paused`
        // keeps the soonest next run of all, but is paused: not due, so last.
        for name in ["b", "c", "d"] { try Self.add(harness, name) }
        try Self.add(harness, "soon", schedule: "@every 1m")
        try Self.add(harness, "a-paused", schedule: "@every 30s")
        try harness.services.admin.pause("a-paused")
        harness.store.edit(taskID: try #require(try harness.store.task(named: "c")).id) { $0.failing = true }
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let byNext = try await browser.get("/tasks?sort=next_run").text
            #expect(Self.names(byNext) == ["soon", "b", "c", "d", "a-paused"])
            #expect(byNext.contains(#"<option value="next_run" selected>"#))
            let byResult = try await browser.get("/tasks?sort=last_result").text
            #expect(Self.names(byResult) == ["c", "a-paused", "b", "d", "soon"])
        }
    }
}
