import Foundation
import Testing

@testable import SundialSchedule

/// Hand-checked fire times in UTC, one feature per test.
@Suite struct CronExpressionVectorTests {
    @Test func fiveFieldDaily() throws {
        #expect(
            try fires("0 3 * * *", from: "2026-01-01T00:00:00Z", count: 2)
                == ["2026-01-01T03:00:00Z", "2026-01-02T03:00:00Z"])
        #expect(try fires("0 3 * * *", from: "2026-01-01T03:00:00Z") == ["2026-01-02T03:00:00Z"])
    }

    @Test func nextIsStrictlyAfterAFractionalInstant() throws {
        #expect(try fires("* * * * * *", from: "2026-01-01T00:00:00.5Z") == ["2026-01-01T00:00:01Z"])
    }

    @Test func weekdayZeroAndSevenAreBothSunday() throws {
        // 2026-11-21 is a Saturday.
        #expect(try fires("0 0 * * 0", from: "2026-11-21T12:00:00Z") == ["2026-11-22T00:00:00Z"])
        #expect(try fires("0 0 * * 7", from: "2026-11-21T12:00:00Z") == ["2026-11-22T00:00:00Z"])
        #expect(try fires("0 0 * * sun", from: "2026-11-21T12:00:00Z") == ["2026-11-22T00:00:00Z"])
        #expect(try fires("0 0 * * MON", from: "2026-11-21T12:00:00Z") == ["2026-11-23T00:00:00Z"])
        #expect(
            try fires("0 0 * * 5-7", from: "2026-11-21T12:00:00Z", count: 2)
                == ["2026-11-22T00:00:00Z", "2026-11-27T00:00:00Z"])
    }

    @Test func weekdayRangesAndSteps() throws {
        #expect(
            try fires("0 9 * * MON-FRI", from: "2026-11-20T10:00:00Z", count: 3)
                == ["2026-11-23T09:00:00Z", "2026-11-24T09:00:00Z", "2026-11-25T09:00:00Z"])
        #expect(
            try fires("0 9 * * 1-5/2", from: "2026-11-22T00:00:00Z", count: 3)
                == ["2026-11-23T09:00:00Z", "2026-11-25T09:00:00Z", "2026-11-27T09:00:00Z"])
    }

    @Test func monthNamesInAnyCase() throws {
        #expect(
            try fires("0 0 1 jan,Jul *", from: "2026-02-01T00:00:00Z", count: 2)
                == ["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"])
        #expect(
            try fires("0 0 1 MAR-may/2 *", from: "2026-01-01T00:00:00Z", count: 2)
                == ["2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z"])
    }

    @Test func stepsWithStartAndRange() throws {
        #expect(
            try fires("5/20 * * * *", from: "2026-01-01T00:00:00Z", count: 4)
                == ["2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z"])
        #expect(
            try fires("10-20/5 * * * *", from: "2026-01-01T00:00:00Z", count: 4)
                == ["2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z", "2026-01-01T00:20:00Z", "2026-01-01T01:10:00Z"])
    }

    @Test func dayOfMonthOrDayOfWeekWhenBothRestricted() throws {
        // Vixie cron: the 13th, or any Friday.
        #expect(
            try fires("0 0 13 * 5", from: "2026-11-21T00:00:00Z", count: 4)
                == ["2026-11-27T00:00:00Z", "2026-12-04T00:00:00Z", "2026-12-11T00:00:00Z", "2026-12-13T00:00:00Z"])
    }

    @Test func dayOfMonthAndDayOfWeekWhenEitherStartsWithStar() throws {
        // `*/2` starts with *: odd days that are also Fridays. Fridays in Dec 2026: 4, 11, 18, 25.
        #expect(
            try fires("0 0 */2 * 5", from: "2026-12-01T00:00:00Z", count: 2)
                == ["2026-12-11T00:00:00Z", "2026-12-25T00:00:00Z"])
        #expect(try fires("0 0 ? * 5", from: "2026-12-01T00:00:00Z") == ["2026-12-04T00:00:00Z"])
        #expect(try fires("0 0 13 * ?", from: "2026-12-01T00:00:00Z") == ["2026-12-13T00:00:00Z"])
    }

    @Test func leapYears() throws {
        #expect(try fires("0 0 29 2 *", from: "2026-01-01T00:00:00Z") == ["2028-02-29T00:00:00Z"])
        // 2100 is not a leap year.
        #expect(try fires("0 0 29 2 *", from: "2096-03-01T00:00:00Z") == ["2104-02-29T00:00:00Z"])
        #expect(
            try fires("0 0 L 2 *", from: "2027-03-01T00:00:00Z", count: 2)
                == ["2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"])
    }

    @Test func thirtyFirstSkipsShortMonths() throws {
        #expect(
            try fires("0 0 31 * *", from: "2026-01-31T00:00:01Z", count: 3)
                == ["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"])
    }

    @Test func yearRollover() throws {
        #expect(try fires("0 0 1 1 *", from: "2026-12-31T23:59:59Z") == ["2027-01-01T00:00:00Z"])
        #expect(try fires("59 23 31 12 *", from: "2026-12-31T23:59:00Z") == ["2027-12-31T23:59:00Z"])
        #expect(try fires("* * * * * *", from: "2026-12-31T23:59:59Z") == ["2027-01-01T00:00:00Z"])
    }

    @Test func lastDayOfMonth() throws {
        #expect(
            try fires("0 0 L * *", from: "2026-02-01T00:00:00Z", count: 3)
                == ["2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"])
        #expect(
            try fires("0 0 L-3 * *", from: "2026-02-01T00:00:00Z", count: 2)
                == ["2026-02-25T00:00:00Z", "2026-03-28T00:00:00Z"])
    }

    @Test func nearestWeekday() throws {
        // 2026-11-15 is a Sunday: the nearest weekday is Monday the 16th.
        #expect(try fires("0 0 15W * *", from: "2026-11-01T00:00:00Z") == ["2026-11-16T00:00:00Z"])
        // 2026-08-01 is a Saturday: W never leaves the month, so Monday the 3rd.
        #expect(try fires("0 0 1W * *", from: "2026-07-15T00:00:00Z") == ["2026-08-03T00:00:00Z"])
        // 2026-05-31 is a Sunday: the last weekday is Friday the 29th.
        #expect(try fires("0 0 LW * *", from: "2026-05-01T00:00:00Z") == ["2026-05-29T00:00:00Z"])
        // 2026-10-31 is a Saturday: 31W is Friday the 30th; months without a 31st have no fire.
        #expect(try fires("0 0 31W * *", from: "2026-09-01T00:00:00Z") == ["2026-10-30T00:00:00Z"])
    }

    @Test func lastAndNthWeekday() throws {
        #expect(
            try fires("0 0 * * 5L", from: "2026-11-01T00:00:00Z", count: 2)
                == ["2026-11-27T00:00:00Z", "2026-12-25T00:00:00Z"])
        #expect(
            try fires("0 0 * * FRI#3", from: "2026-11-01T00:00:00Z", count: 2)
                == ["2026-11-20T00:00:00Z", "2026-12-18T00:00:00Z"])
        // A fifth Monday exists only in some months: in 2026, March, June, August and November.
        #expect(
            try fires("0 0 * * 1#5", from: "2026-01-01T00:00:00Z", count: 2)
                == ["2026-03-30T00:00:00Z", "2026-06-29T00:00:00Z"])
    }

    @Test func sixFieldsHaveSecondsFirst() throws {
        #expect(
            try fires("*/10 * * * * *", from: "2026-01-01T12:00:05Z", count: 2)
                == ["2026-01-01T12:00:10Z", "2026-01-01T12:00:20Z"])
        #expect(try fires("30 15 10 * * *", from: "2026-01-01T12:00:05Z") == ["2026-01-02T10:15:30Z"])
    }

    @Test func sevenFieldsHaveAYearLast() throws {
        #expect(try fires("0 0 0 1 1 ? 2030", from: "2026-01-01T00:00:00Z", count: 2) == ["2030-01-01T00:00:00Z"])
        #expect(
            try fires("0 0 12 29 2 ? 2027-2040", from: "2026-01-01T00:00:00Z", count: 2)
                == ["2028-02-29T12:00:00Z", "2032-02-29T12:00:00Z"])
    }

    @Test func yearsInThePastHaveNoNextFire() throws {
        let schedule = try Schedule("0 0 0 1 1 ? 2020")
        #expect(schedule.next(after: instant("2026-01-01T00:00:00Z")) == nil)
        #expect(schedule.previous(before: instant("2026-01-01T00:00:00Z")) == instant("2020-01-01T00:00:00Z"))
    }

    @Test func macros() throws {
        let from = "2026-11-21T12:34:56Z"
        #expect(try fires("@yearly", from: from) == ["2027-01-01T00:00:00Z"])
        #expect(try fires("@annually", from: from) == ["2027-01-01T00:00:00Z"])
        #expect(try fires("@monthly", from: from) == ["2026-12-01T00:00:00Z"])
        #expect(try fires("@weekly", from: from) == ["2026-11-22T00:00:00Z"])
        #expect(try fires("@daily", from: from) == ["2026-11-22T00:00:00Z"])
        #expect(try fires("@midnight", from: from) == ["2026-11-22T00:00:00Z"])
        #expect(try fires("@HOURLY", from: from) == ["2026-11-21T13:00:00Z"])
    }

    @Test func previousBefore() throws {
        let schedule = try Schedule("0 0 L * *")
        #expect(schedule.previous(before: instant("2026-03-15T00:00:00Z")) == instant("2026-02-28T00:00:00Z"))
        #expect(schedule.previous(before: instant("2026-02-28T00:00:00Z")) == instant("2026-01-31T00:00:00Z"))
        #expect(schedule.previous(before: instant("2026-02-28T00:00:01Z")) == instant("2026-02-28T00:00:00Z"))
    }

    @Test func matches() throws {
        let schedule = try Schedule("0 9 * * MON-FRI")
        #expect(schedule.matches(instant("2026-11-23T09:00:00Z")))
        #expect(!schedule.matches(instant("2026-11-22T09:00:00Z")))
        #expect(!schedule.matches(instant("2026-11-23T09:00:01Z")))
        #expect(!schedule.matches(instant("2026-11-23T09:00:00.5Z")))
    }
}
