import Foundation
import SundialCore
import SundialSchedule
import Testing

/// What an attempt's end means for alerts, and where the alerts go.
@Suite struct AlertEventTests {
    static let fire = Date(timeIntervalSince1970: 1_800_000_000)

    func events(
        _ schedule: String?, end: AttemptEnd, attempt: Int = 0, cancelled: ExecutorMachine.CancelReason? = nil,
        configure: (inout TaskRow) -> Void = { _ in }
    ) throws -> (events: [AlertEvent], drafts: [AlertDraft]) {
        var row = TaskRow(id: 9, name: "report", action: "noop", schedule: schedule)
        row.maxAttempts = 2
        configure(&row)
        let run = RunRecord(
            taskID: 9, token: ClaimToken(1), scheduledFor: Self.fire, attempt: attempt, executor: "e1",
            startedAt: Self.fire, status: .running)
        let routing = AlertRouting(channels: ["ops": Set(AlertEvent.allCases), "pager": [.dead]], defaults: ["ops"])
        let result = AttemptResult(
            row: row, schedule: try schedule.map { try Schedule($0) }, run: run, end: end, cancelled: cancelled,
            took: 1, now: Self.fire.addingTimeInterval(1), jitter: 0, alerting: routing)
        return (result.finished.events, result.finished.alerts)
    }

    @Test func aFailureWithAttemptsLeftIsQuietAndTheLastOneAlerts() throws {
        #expect(try events("* * * * *", end: .failed("exit 1")).events == [])
        let last = try events("* * * * *", end: .failed("exit 1"), attempt: 1)
        #expect(last.events == [.failed])
        #expect(last.drafts.map(\.channel) == ["ops"])
        let draft = try #require(last.drafts.first)
        #expect(draft.summary == "report failed (attempt 2 of 2, failed); it moves on to its next fire")
        #expect(draft.detail == "exit 1" && draft.subject == "task:9" && draft.taskName == "report")
        #expect(draft.run == RunKey(task: 9, scheduled: Self.fire, attempt: 1) && draft.raisedBy == "e1")
    }

    @Test func aOneShotsLastFailureIsDeadAndEveryTimeoutIsReported() throws {
        let dead = try events(nil, end: .failed("boom"), attempt: 1)
        #expect(dead.events == [.dead])
        #expect(dead.drafts.map(\.channel) == ["ops"])
        #expect(dead.drafts.first?.summary == "report failed (attempt 2 of 2, failed) and is dead until resumed")
        #expect(
            try events(nil, end: .failed("boom"), attempt: 1) { $0.alerts = "pager" }.drafts.map(\.channel) == [
                "ops", "pager",
            ])
        #expect(try events("* * * * *", end: .timedOut).events == [.timedOut])
        #expect(try events("* * * * *", end: .timedOut, attempt: 1).events == [.timedOut, .failed])
        #expect(try events("* * * * *", end: .succeeded, cancelled: .timedOut).events == [])
    }

    @Test func aSuccessOfAFailingTaskIsRecoveredAndAKillOnRequestIsNotAFailure() throws {
        #expect(try events("* * * * *", end: .succeeded).events == [])
        #expect(try events("* * * * *", end: .succeeded) { $0.failing = true }.events == [.recovered])
        #expect(try events("* * * * *", end: .killed, attempt: 1, cancelled: .killRequested).events == [])
        // Stopped by its executor: at_least_once runs the fire again, nothing to say yet.
        #expect(try events("* * * * *", end: .failed("x"), attempt: 1, cancelled: .executorStopping).events == [])
        #expect(
            try events("* * * * *", end: .interrupted("lost"), attempt: 1) { $0.delivery = .atMostOnce }.events == [
                .failed
            ])
    }

    @Test func routingTakesTheDefaultsAndTheTasksOwnChannelsOnceEach() {
        let routing = AlertRouting(
            channels: ["ops": Set(AlertEvent.allCases), "pager": [.dead, .missed], "mail": [.failed]],
            defaults: ["ops", "mail"])
        var row = TaskRow(id: 1, name: "t", action: "noop")
        row.alerts = " pager , ops,nowhere,"
        #expect(routing.channels(for: .missed, task: row) == ["ops", "pager"])
        #expect(routing.channels(for: .failed, task: row) == ["ops", "mail"])
        #expect(routing.channels(for: .executorDead, task: nil) == ["ops"])
        #expect(AlertRouting().channels(for: .failed, task: row).isEmpty)
        row.alertLateSeconds = 5
        #expect(routing.lateAfter(for: row) == .seconds(5))
        row.alertLateSeconds = .nan
        #expect(routing.lateAfter(for: row) == .seconds(60))
    }
}
