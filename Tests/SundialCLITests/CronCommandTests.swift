import Foundation
import Testing

@Suite struct CronCommandTests {
    @Test func nextPrintsFireTimesWithTheZonesOffset() throws {
        let result = try Sundial.run([
            "cron", "next", "--count", "3", "--from", "2026-03-07T12:00:00Z", "--tz", "America/New_York", "30 2 * * *",
        ])
        #expect(result.status == 0)
        #expect(
            result.standardOutput
                == "2026-03-08T03:00:00-04:00\n2026-03-09T02:30:00-04:00\n2026-03-10T02:30:00-04:00\n")
    }

    @Test func nextDefaultsToFiveFiresAndAcceptsUnquotedFields() throws {
        let result = try Sundial.run(["cron", "next", "--from", "2026-01-01T00:00:00Z", "0", "*/6", "*", "*", "*"])
        #expect(result.status == 0)
        #expect(
            result.standardOutput.split(separator: "\n")
                == [
                    "2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T00:00:00Z",
                    "2026-01-02T06:00:00Z",
                ])
    }

    @Test func nextSaysSoWhenThereIsNoFire() throws {
        let result = try Sundial.run(["cron", "next", "--from", "2026-01-01T00:00:00Z", "0 0 0 1 1 ? 2020"])
        #expect(result.status == 1)
        #expect(result.standardError.contains("no next fire"))
    }

    @Test func checkDescribesAValidExpression() throws {
        let result = try Sundial.run(["cron", "check", "0 3 * * 1-5"])
        #expect(result.status == 0)
        #expect(result.standardOutput == "At 03:00, Monday through Friday\n")
    }

    @Test func checkPrintsTheErrorOnStandardErrorAndExitsTwo() throws {
        let result = try Sundial.run(["cron", "check", "0 0 * * 8"])
        #expect(result.status == 2)
        #expect(result.standardOutput.isEmpty)
        #expect(result.standardError == "error: day-of-week: 8 is out of range 0-7\n")
        let zone = try Sundial.run(["cron", "check", "--tz", "Mars/Base", "0 3 * * *"])
        #expect(zone.status == 2)
        #expect(zone.standardError.contains("unknown time zone 'Mars/Base'"))
    }

    @Test func badFlagsGetAReadableError() throws {
        let result = try Sundial.run(["cron", "next", "--from", "yesterday", "* * * * *"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("--from yesterday is not an RFC 3339 time"))
    }
}
