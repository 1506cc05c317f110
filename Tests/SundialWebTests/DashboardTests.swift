import Foundation
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

@Suite struct DashboardTests {
    @Test func theDashboardCountsChartsAndListsWhatAnOperatorChecksFirst() async throws {
        let harness = try await ConsoleHarness()
        let nightly = try harness.services.admin.add(
            {
                var t = NewTask(name: "nightly", action: "noop"); t.schedule = "0 3 * * *"; return t
            }())
        _ = try harness.services.admin.add(
            {
                var t = NewTask(name: "hourly", action: "noop"); t.schedule = "0 * * * *"; return t
            }())
        let now = try harness.store.now()
        var runs: [RunRecord] = []
        for i in 0..<6 {
            let start = now.addingTimeInterval(-Double(i) * 3600 - 120)
            runs.append(
                RunRecord(
                    taskID: nightly.id, token: ClaimToken(3), scheduledFor: start.addingTimeInterval(-0.5), attempt: 0,
                    executor: "e1", startedAt: start, finishedAt: start.addingTimeInterval(1),
                    status: i == 0 ? .failed : .succeeded))
        }
        try harness.store.record(RunBatch(started: runs))
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let page = try await browser.get("/")
            #expect(page.status == .ok)
            let html = page.text
            #expect(html.contains("<h1>Dashboard</h1>"))
            // Two active tasks, the next fires in order, six runs in the day, one failed in the hour.
            #expect(html.contains(#"<span class="status active">active</span> 2"#))
            #expect(html.contains(#"<span class="status succeeded">succeeded</span> 5"#))
            #expect(html.contains(#"<span class="status failed">failed</span> 1"#))
            let hourly = try #require(html.range(of: ">hourly<"))
            let nightlyLink = try #require(html.range(of: ">nightly<", range: hourly.upperBound..<html.endIndex))
            #expect(hourly.lowerBound < nightlyLink.lowerBound)
            // The chart: one bar per hour that had runs, drawn on the server.
            #expect(html.components(separatedBy: "<rect class=").count - 1 == 6)
            #expect(html.contains("<svg class=\"chart\""))
            #expect(html.contains("p50 <strong>500 ms</strong>"))
            #expect(html.contains("No executor is alive"))
            // The second look reads the past hours from the cache and says the same.
            #expect(try await browser.get("/").text.components(separatedBy: "<rect class=").count - 1 == 6)
        }
    }
}
