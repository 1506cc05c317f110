import Foundation
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

/// Making and editing tasks in the console, checked as the executor checks them.
@Suite struct TaskFormTests {
    static func fields(_ name: String, schedule: String, tz: String = "UTC", original: String = "") -> [(
        String, String
    )] {
        [
            ("original", original), ("name", name), ("action", "shell"), ("payload", #"{"command":"echo hi"}"#),
            ("schedule", schedule), ("timezone", tz), ("max_attempts", "3"), ("backoff_seconds", ""),
            ("timeout_seconds", ""), ("max_concurrency", ""), ("misfire_policy", "skip"),
            ("delivery", "at_most_once"), ("tags", ""), ("alerts", ""), ("alert_late_seconds", ""),
        ]
    }

    @Test func aBadScheduleSavesNothingAndSaysWhatIsWrongNextToTheField() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let op = Browser(client)
            try await op.signIn("operator")
            #expect(try await op.get("/task/new").status == .ok)
            let refused = try await op.post("/tasks/save", Self.fields("report", schedule: "61 * * * *"))
            #expect(refused.status == .unprocessableContent)
            #expect(refused.text.contains(#"<p class="field-error" id="e-schedule" role="alert">"#))
            #expect(refused.text.contains("61"))
            // What was typed is kept.
            #expect(refused.text.contains(#"value="61 * * * *""#))
            #expect(try harness.store.task(named: "report") == nil)
            // A bad number and a payload the action refuses, each next to its field.
            var fields = Self.fields("report", schedule: "0 3 * * *")
            fields[6] = ("max_attempts", "three")
            let badNumber = try await op.post("/tasks/save", fields)
            #expect(badNumber.text.contains(#"id="e-max_attempts""#))
            fields = Self.fields("report", schedule: "0 3 * * *")
            fields[3] = ("payload", #"{"nothing":1}"#)
            #expect(try await op.post("/tasks/save", fields).text.contains(#"id="e-payload""#))
            #expect(try harness.store.task(named: "report") == nil)

            let saved = try await op.post(
                "/tasks/save", Self.fields("report", schedule: "0 3 * * *", tz: "Europe/London"))
            #expect(saved.status == .seeOther)
            let task = try #require(try harness.store.task(named: "report"))
            #expect(task.schedule == "0 3 * * *" && task.timezone == "Europe/London" && task.maxAttempts == 3)
            #expect(task.misfirePolicy == .skip && task.delivery == .atMostOnce && task.nextRun != nil)
            let page = try await op.get(try #require(saved.headers[.location]))
            #expect(page.text.contains("Europe/London"))

            // Edit: a new schedule is planned afresh; the audit log says who.
            try await op.get("/task/edit?name=report")
            let edited = try await op.post(
                "/tasks/save", Self.fields("ignored", schedule: "*/5 * * * *", original: "report"))
            #expect(edited.status == .seeOther)
            let after = try #require(try harness.store.task(named: "report"))
            #expect(after.schedule == "*/5 * * * *" && after.id == task.id)
            #expect(try harness.store.task(named: "ignored") == nil)
            let audit = try harness.store.auditLog(AuditFilter(subject: "report"), before: nil, limit: 10)
            #expect(audit.map(\.draft.action) == [.taskUpdate, .taskCreate])

            // Clone: the form comes filled in under a new name.
            let clone = try await op.get("/task/new?clone=1&name=report")
            #expect(clone.text.contains(#"value="report-copy""#) && clone.text.contains(#"value="*/5 * * * *""#))
        }
    }

    @Test func aUserLimitedToTagsMakesOnlyTasksWhollyWithinThem() async throws {
        let harness = try await ConsoleHarness()
        try harness.addUser("etl-op", role: .operator, tags: ["etl"])
        try await harness.test { client in
            let op = Browser(client)
            try await op.signIn("etl-op")
            try await op.get("/task/new")
            for tags in ["", "etl,prod", "prod"] {
                var fields = Self.fields("mine", schedule: "@daily")
                fields[12] = ("tags", tags)
                let refused = try await op.post("/tasks/save", fields)
                #expect(refused.status == .unprocessableContent, "tags '\(tags)'")
                #expect(refused.text.contains(#"id="e-tags""#))
            }
            var fields = Self.fields("mine", schedule: "@daily")
            fields[12] = ("tags", "etl")
            #expect(try await op.post("/tasks/save", fields).status == .seeOther)
            #expect(try harness.store.task(named: "mine")?.tags == "etl")
        }
    }

    @Test func aFinishedOneShotStaysFinishedWhenOnlyItsZoneChanges() async throws {
        let harness = try await ConsoleHarness()
        let task = try harness.services.admin.add(NewTask(name: "once", action: "noop"))
        harness.store.edit(taskID: task.id) {
            $0.status = .done; $0.nextRun = nil
        }
        var settings = NewTask(settingsOf: try #require(try harness.store.task(named: "once")), name: "once")
        settings.timezone = "Europe/Paris"
        try harness.services.admin.update("once", to: settings)
        let after = try #require(try harness.store.task(named: "once"))
        #expect(after.status == .done && after.nextRun == nil && after.timezone == "Europe/Paris")
    }

    @Test func aGetFormsPlusSignsAreSpaces() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let viewer = Browser(client)
            try await viewer.signIn("viewer")
            // What a browser sends for `0 3 * * *` from a GET form or URLSearchParams.
            let preview = try await viewer.get("/schedule/preview?expr=0+3+*+*+*&tz=UTC")
            #expect(preview.text.contains(#""valid":true"#))
        }
    }

    @Test func aViewerGetsNoFormAndAForgedSaveIsRefused() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let viewer = Browser(client)
            try await viewer.signIn("viewer")
            #expect(try await viewer.get("/task/new").status == .forbidden)
            try await viewer.get("/tasks")
            #expect(try await viewer.post("/tasks/save", Self.fields("x", schedule: "@daily")).status == .forbidden)
            #expect(try harness.store.task(named: "x") == nil)
        }
    }

    @Test func theSchedulePreviewDescribesAndListsFiresWithDaylightSavingChanges() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let viewer = Browser(client)
            try await viewer.signIn("viewer")
            let good = try await viewer.get("/schedule/preview?expr=30%202%20*%20*%20*&tz=Europe/London&count=400")
            struct Preview: Decodable {
                struct Fire: Decodable {
                    var utc: String
                    var daylight_saving_change: Bool
                }
                var valid: Bool
                var description: String?
                var error: String?
                var fires: [Fire]
            }
            let answer = try JSONDecoder().decode(Preview.self, from: Data(good.text.utf8))
            #expect(answer.valid && answer.description?.isEmpty == false)
            #expect(answer.fires.count == 50)  // at most 50
            let bad = try JSONDecoder().decode(
                Preview.self, from: Data(try await viewer.get("/schedule/preview?expr=nonsense").text.utf8))
            #expect(!bad.valid && bad.error != nil && bad.fires.isEmpty)
            let zone = try JSONDecoder().decode(
                Preview.self,
                from: Data(try await viewer.get("/schedule/preview?expr=@daily&tz=Mars/Olympus").text.utf8))
            #expect(zone.error?.contains("time zone") == true)
        }
    }
}
