import Foundation
import Hummingbird
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

/// A task's page: its run history by status and period, in pages, with a duration chart, and
/// what started each run.
@Suite struct TaskPageTests {
    @Test func theRunHistoryIsFilteredByStatusAndPeriodPagedAndCharted() async throws {
        let harness = try await ConsoleHarness()
        let task = try harness.services.admin.add(NewTask(name: "etl", action: "noop"))
        let now = try harness.store.now()
        // 60 runs 70 s apart, the newest 70 s ago: every fifth failed; the 51 newest started
        // within the last hour; the newest was asked for by alice.
        var runs: [RunRecord] = []
        for index in 0..<60 {
            let start = now.addingTimeInterval(-70 * Double(index + 1))
            runs.append(
                RunRecord(
                    taskID: task.id, token: ClaimToken(Int64(index + 1)), scheduledFor: start, attempt: 0,
                    executor: "e1", startedAt: start, finishedAt: start.addingTimeInterval(Double(index % 7) + 1),
                    status: index % 5 == 0 ? .failed : .succeeded, requestedBy: index == 0 ? "alice" : nil))
        }
        try harness.store.record(RunBatch(started: runs.reversed()))  // ids grow with time
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let page = try await browser.get("/task?name=etl").text
            // 50 per page, newest first, with a link to the older ones and a bar per run listed.
            #expect(page.components(separatedBy: #"<a href="/run?id="#).count - 1 == 50 * 2)
            #expect(page.contains("Older runs"))
            #expect(page.contains(#"<svg class="chart""#) && page.contains("Duration of the 50 runs listed"))
            #expect(page.contains("run now by alice") && page.contains("<td>schedule</td>"))
            let failed = try await browser.get("/task?name=etl&status=failed").text
            #expect(failed.components(separatedBy: #"<span class="status failed">"#).count - 1 == 12)
            #expect(!failed.contains(#"<span class="status succeeded">"#) && !failed.contains("Older runs"))
            // The last hour: 51 starts, 11 of them failed.
            let hour = try await browser.get("/task?name=etl&period=1h&status=succeeded").text
            #expect(hour.components(separatedBy: #"<span class="status succeeded">"#).count - 1 == 40)
            let older = try #require(
                page.range(of: #"/task\?name=etl&amp;before=\d+"#, options: .regularExpression).map { String(page[$0]) }
            )
            let second = try await browser.get(older.replacingOccurrences(of: "&amp;", with: "&")).text
            #expect(second.components(separatedBy: #"<a href="/run?id="#).count - 1 == 10 * 2)
            #expect(!second.contains("run now by alice"))
            let nothing = try await browser.get("/task?name=etl&status=killed").text
            #expect(nothing.contains("No run matches.") && !nothing.contains(#"<svg class="chart""#))
        }
    }
}
