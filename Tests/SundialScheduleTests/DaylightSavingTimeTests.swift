import Foundation
import Testing

@testable import SundialSchedule

/// Debian cron's DST rule, in zones with 1-hour shifts, a 30-minute shift, and no DST at all.
/// Transitions used (all 2026): New York springs forward at 07:00Z on 8 March and falls back at
/// 06:00Z on 1 November; London at 01:00Z on 29 March and 25 October; Lord Howe (+10:30/+11)
/// falls back at 15:00Z on 4 April and springs forward at 15:30Z on 3 October.
@Suite struct DaylightSavingTimeTests {
    let newYork = "America/New_York"

    @Test func fixedTimeInASpringGapRunsOnceAtTheFirstInstantAfterIt() throws {
        // 02:30 does not exist on 8 March: it runs at 03:00 EDT (07:00Z), then at 02:30 EDT.
        #expect(
            try fires("30 2 * * *", tz: newYork, from: "2026-03-07T12:00:00Z", count: 2)
                == ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"])
        // Two fires inside the gap land on the same instant and run once.
        #expect(
            try fires("0,30 2 * * *", tz: newYork, from: "2026-03-07T12:00:00Z", count: 3)
                == ["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z"])
        // A fire at 03:00 exactly coincides with the gap fire and is not doubled.
        #expect(
            try fires("30 2,3 * * *", tz: newYork, from: "2026-03-08T06:00:00Z", count: 2)
                == ["2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"])
        let schedule = try Schedule("30 2 * * *", timeZone: newYork)
        #expect(schedule.matches(instant("2026-03-08T07:00:00Z")))
        #expect(!schedule.matches(instant("2026-03-08T07:30:00Z")))
        #expect(schedule.previous(before: instant("2026-03-09T00:00:00Z")) == instant("2026-03-08T07:00:00Z"))
    }

    @Test func fixedTimeInARepeatedHourRunsOnceAtTheFirstOccurrence() throws {
        // 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST): only the first runs.
        #expect(
            try fires("30 1 * * *", tz: newYork, from: "2026-10-31T12:00:00Z", count: 2)
                == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
        let schedule = try Schedule("30 1 * * *", timeZone: newYork)
        #expect(!schedule.matches(instant("2026-11-01T06:30:00Z")))
        #expect(schedule.previous(before: instant("2026-11-01T12:00:00Z")) == instant("2026-11-01T05:30:00Z"))
    }

    @Test func wildcardSchedulesFollowTheRealClock() throws {
        // Both copies of 01:00 and 01:30 fire.
        #expect(
            try fires("*/30 * * * *", tz: newYork, from: "2026-11-01T04:59:59Z", count: 5)
                == [
                    "2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z",
                    "2026-11-01T06:30:00Z", "2026-11-01T07:00:00Z",
                ])
        #expect(
            try fires("@hourly", tz: newYork, from: "2026-11-01T04:30:00Z", count: 3)
                == ["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"])
        // Nothing fires inside the gap: from 01:30 EST straight to 03:00 EDT.
        #expect(
            try fires("*/30 * * * *", tz: newYork, from: "2026-03-08T06:15:00Z", count: 2)
                == ["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z"])
        // `* 2 * * *` is not fixed-time (its minute starts with *): no fire on 8 March at all.
        #expect(try fires("* 2 * * *", tz: newYork, from: "2026-03-08T06:00:00Z") == ["2026-03-09T06:00:00Z"])
    }

    @Test func theRuleIsTheSameForSixAndSevenFields() throws {
        #expect(
            try fires("15 30 2 * * *", tz: newYork, from: "2026-03-07T12:00:00Z", count: 2)
                == ["2026-03-08T07:00:00Z", "2026-03-09T06:30:15Z"])
        #expect(
            try fires("0 30 1 * * ? 2026", tz: newYork, from: "2026-10-31T12:00:00Z", count: 2)
                == ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"])
    }

    @Test func london() throws {
        let london = "Europe/London"
        #expect(
            try fires("30 1 * * *", tz: london, from: "2026-03-28T12:00:00Z", count: 2)
                == ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"])
        #expect(
            try fires("30 1 * * *", tz: london, from: "2026-10-24T12:00:00Z", count: 2)
                == ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"])
        #expect(try fires("0 9 * * *", tz: london, from: "2026-07-01T00:00:00Z") == ["2026-07-01T08:00:00Z"])
    }

    @Test func lordHoweShiftsByThirtyMinutes() throws {
        let lordHowe = "Australia/Lord_Howe"
        // Spring: 02:00–02:29 do not exist on 4 October; 02:15 runs at 02:30 (+11) = 15:30Z.
        #expect(
            try fires("15 2 * * *", tz: lordHowe, from: "2026-10-03T12:00:00Z", count: 2)
                == ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"])
        // Autumn: 01:30–01:59 repeat on 5 April; 01:45 runs once, at 01:45 +11 = 14:45Z.
        #expect(
            try fires("45 1 * * *", tz: lordHowe, from: "2026-04-04T12:00:00Z", count: 2)
                == ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"])
        #expect(
            try fires("*/15 * * * *", tz: lordHowe, from: "2026-04-04T14:29:59Z", count: 5)
                == [
                    "2026-04-04T14:30:00Z", "2026-04-04T14:45:00Z", "2026-04-04T15:00:00Z",
                    "2026-04-04T15:15:00Z", "2026-04-04T15:30:00Z",
                ])
    }

    @Test func aZoneWithoutDaylightSavingTime() throws {
        #expect(
            try fires("0 9 * * *", tz: "Asia/Tokyo", from: "2026-03-01T00:00:00Z", count: 2)
                == ["2026-03-02T00:00:00Z", "2026-03-03T00:00:00Z"])
        #expect(try fires("30 2 * * *", tz: "Asia/Tokyo", from: "2026-03-07T12:00:00Z") == ["2026-03-07T17:30:00Z"])
    }

    @Test func localTimesPrintWithTheZoneOffset() throws {
        let schedule = try Schedule("0 3 * * *", timeZone: newYork)
        let fire = schedule.next(after: instant("2026-03-07T12:00:00Z"))!
        #expect(RFC3339.format(fire, utcOffset: schedule.utcOffset(at: fire)) == "2026-03-08T03:00:00-04:00")
        let howe = try Schedule("0 3 * * *", timeZone: "Australia/Lord_Howe")
        let hoveFire = howe.next(after: instant("2026-06-01T00:00:00Z"))!
        #expect(RFC3339.format(hoveFire, utcOffset: howe.utcOffset(at: hoveFire)) == "2026-06-02T03:00:00+10:30")
    }
}
