import Foundation
import Hummingbird
import HummingbirdTesting
import SundialCore
import SundialMemoryStore
import SundialWeb
import Synchronization
import Testing

/// What the pages show.
@Suite struct ConsolePagesTests {
    @Test func runsAreListedFilteredAndShownWithTheirOutputAsText() async throws {
        let harness = try await ConsoleHarness()
        let task = try harness.services.admin.add(NewTask(name: "export", action: "noop"))
        let now = try harness.store.now()
        var failed = RunRecord(
            taskID: task.id, token: ClaimToken(1), scheduledFor: now.addingTimeInterval(-120), attempt: 0,
            executor: "host-a:1", startedAt: now.addingTimeInterval(-120), finishedAt: now.addingTimeInterval(-119),
            status: .failed)
        failed.output = "<b>bold</b> line\n"
        failed.error = "exit status 3"
        failed.exitCode = 3
        let succeeded = RunRecord(
            taskID: task.id, token: ClaimToken(2), scheduledFor: now.addingTimeInterval(-60), attempt: 0,
            executor: "host-b:2", startedAt: now.addingTimeInterval(-60), finishedAt: now.addingTimeInterval(-59),
            status: .succeeded)
        try harness.store.record(RunBatch(started: [failed, succeeded]))
        let runs = try harness.store.runs(RunFilter(), before: nil, limit: 10)
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let all = try await browser.get("/runs").text
            #expect(all.contains("host-a:1") && all.contains("host-b:2"))
            let onlyFailed = try await browser.get("/runs?status=failed&period=1h").text
            #expect(onlyFailed.contains("host-a:1") && !onlyFailed.contains("host-b:2"))
            #expect(try await browser.get("/runs?task=nothing").text.contains("No run matches"))
            let failedID = try #require(runs.first { $0.status == .failed }?.id)
            let page = try await browser.get("/run?id=\(failedID)")
            #expect(page.status == .ok)
            #expect(page.text.contains("&lt;b&gt;bold&lt;/b&gt; line") && !page.text.contains("<b>bold</b>"))
            #expect(page.text.contains("exit status 3"))
            let download = try await browser.get("/run/output?id=\(failedID)")
            #expect(download.text == "<b>bold</b> line\n")
            #expect(download.headers[.contentType]?.hasPrefix("text/plain") == true)
            #expect(download.headers[.contentDisposition]?.contains("attachment") == true)
            #expect(try await browser.get("/run?id=999999").status == .notFound)
        }
    }

    @Test func aRunningJobsOutputIsFollowedOverServerSentEventsUntilItEnds() async throws {
        let harness = try await ConsoleHarness()
        let task = try harness.services.admin.add(NewTask(name: "long", action: "noop"))
        let now = try harness.store.now()
        let run = RunRecord(
            taskID: task.id, token: ClaimToken(9), scheduledFor: now, attempt: 0, executor: "e1", startedAt: now,
            finishedAt: nil, status: .running)
        try harness.store.record(
            RunBatch(started: [run], progress: [.init(key: run.key, token: run.token, output: "step 1\n")]))
        let id = try #require(try harness.store.runs(RunFilter(), before: nil, limit: 1).first?.id)
        let store = harness.store
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let page = try await browser.get("/run?id=\(id)").text
            #expect(page.contains(#"data-live-run="\#(id)""#) && page.contains("step 1"))
            // The job writes more, then ends, while the page follows it: each write waits until
            // the stream has read the run since the last one (reads, not time: CI is slow).
            let reads = Mutex(0)
            store.injectFaults { operation in
                if operation == .runHistory { reads.withLock { $0 += 1 } }
                return nil
            }
            let readsNow = { reads.withLock { $0 } }
            let writer = Task {
                let before = readsNow()
                while readsNow() < before + 2 { try await Task.sleep(for: .milliseconds(20)) }
                try store.record(
                    RunBatch(progress: [.init(key: run.key, token: run.token, output: "step 1\nstep 2\n")]))
                let after = readsNow()
                while readsNow() < after + 2 { try await Task.sleep(for: .milliseconds(20)) }
                var ended = run
                (ended.status, ended.finishedAt, ended.output) = (
                    .succeeded, now.addingTimeInterval(3), "step 1\nstep 2\ndone\n"
                )
                try store.record(RunBatch(finished: [FinishedRun(run: ended, row: nil)]))
            }
            let stream = try await browser.get("/run/live?id=\(id)")
            try await writer.value
            #expect(stream.headers[.contentType] == "text/event-stream")
            let events = stream.text.components(separatedBy: "\n\n").filter { $0.hasPrefix("event:") }
            #expect(stream.text.hasPrefix("retry: 2000\n\n"))
            #expect(events.first?.contains(#""output":"step 1\n""#) == true)
            #expect(events.contains { $0.contains(#"step 1\nstep 2\n""#) && $0.contains(#""status":"running""#) })
            #expect(events.dropLast().last?.contains(#""status":"succeeded""#) == true)
            #expect(events.last == "event: end\ndata: {}")
        }
    }
}
