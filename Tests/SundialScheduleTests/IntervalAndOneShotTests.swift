import Foundation
import Testing

@testable import SundialSchedule

@Suite struct IntervalAndOneShotTests {
    @Test func everyFiresOnAFixedGrid() throws {
        let schedule = try Schedule("@every 90s")
        #expect(schedule.kind == .interval(seconds: 90))
        // Anchored at the epoch by default: 90 s divides the day, so midnight is on the grid.
        #expect(
            try fires("@every 90s", from: "2026-01-01T00:00:00Z", count: 2)
                == ["2026-01-01T00:01:30Z", "2026-01-01T00:03:00Z"])
    }

    @Test func everyAnchoredAtThePreviousFireNeverDrifts() throws {
        let previous = instant("2026-01-01T00:00:07.25Z")
        let schedule = try Schedule("@every 1h30m").anchored(at: previous)
        // Late by 40 minutes: the next fire still lands on the grid of the previous one.
        let next = schedule.next(after: previous.addingTimeInterval(2400))
        #expect(next == previous.addingTimeInterval(5400))
        var cursor = previous
        for _ in 0..<10_000 { cursor = schedule.next(after: cursor)! }
        #expect(cursor == previous.addingTimeInterval(5400 * 10_000))
        #expect(schedule.previous(before: previous.addingTimeInterval(5400)) == previous)
        #expect(schedule.matches(previous.addingTimeInterval(5400 * 3)))
        #expect(!schedule.matches(previous.addingTimeInterval(5400 * 3 + 1)))
    }

    @Test func durations() throws {
        #expect(try Schedule("@every 5m").kind == .interval(seconds: 300))
        #expect(try Schedule("@every 1h30m").kind == .interval(seconds: 5400))
        #expect(try Schedule("@every 1d2h3m4s").kind == .interval(seconds: 93_784))
        #expect(parseError("@every 0s") == "@every: the interval must be at least 1s")
        #expect(parseError("@every 10") == "@every: '10' needs a unit after each number (d, h, m, s)")
        #expect(parseError("@every 1.5s")?.contains("is not a duration") == true)
        #expect(parseError("@every") == "@every needs a duration such as 90s, 5m or 1h30m")
    }

    @Test func oneShotAtAnInstant() throws {
        let schedule = try Schedule("@at 2026-12-01T03:00:00Z")
        #expect(schedule.next(after: instant("2026-11-21T00:00:00Z")) == instant("2026-12-01T03:00:00Z"))
        #expect(schedule.next(after: instant("2026-12-01T03:00:00Z")) == nil)
        #expect(schedule.previous(before: instant("2026-12-02T00:00:00Z")) == instant("2026-12-01T03:00:00Z"))
        #expect(
            try Schedule("@at 2026-12-01T04:30:00.5+01:30").next(after: .distantPast)
                == instant("2026-12-01T03:00:00.5Z"))
        #expect(try Schedule("2026-12-01T03:00:00Z").kind == .once(instant("2026-12-01T03:00:00Z")))
        #expect(parseError("@at tomorrow")?.contains("is not an RFC 3339 time") == true)
        #expect(parseError("@at 2026-02-30T00:00:00Z")?.contains("is not an RFC 3339 time") == true)
    }
}
