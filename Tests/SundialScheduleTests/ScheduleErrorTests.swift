import Foundation
import Testing

@testable import SundialSchedule

@Suite struct ScheduleErrorTests {
    @Test func errorsNameTheFieldTheTextAndWhy() {
        #expect(parseError("0 0 * * 8") == "day-of-week: 8 is out of range 0-7")
        #expect(parseError("60 * * * *") == "minute: 60 is out of range 0-59")
        #expect(parseError("0 24 * * *") == "hour: 24 is out of range 0-23")
        #expect(parseError("0 0 0 * *") == "day-of-month: 0 is out of range 1-31")
        #expect(parseError("0 0 * 13 *") == "month: 13 is out of range 1-12")
        #expect(parseError("0 0 * FOO *") == "month: 'FOO' is not a valid value (use 1-12 or JAN-DEC)")
        #expect(parseError("0 0 * * MON-") == "day-of-week: 'MON-' is missing a value")
        #expect(parseError("*/0 * * * *") == "minute: step 0 is out of range 1-59")
        #expect(parseError("5-1 * * * *") == "minute: '5-1': the range starts after it ends")
        #expect(parseError("1,,2 * * * *") == "minute: '1,,2' has an empty list item")
        #expect(parseError("0 0 * * 5#6") == "day-of-week: occurrence 6 is out of range 1-5")
        #expect(parseError("0 0 0 1 1 ? 1969") == "year: 1969 is out of range 1970-2199")
        #expect(parseError("? * * * *") == "minute: ? is only allowed in day-of-month and day-of-week")
    }

    @Test func wrongFieldCounts() {
        #expect(parseError("") == "the expression is empty")
        #expect(parseError("* * * *")?.hasPrefix("expected 5 fields") == true)
        #expect(parseError("* * * * * * * *")?.hasPrefix("expected 5 fields") == true)
    }

    @Test func expressionsThatCanNeverFire() {
        #expect(parseError("0 0 30 2 *")?.hasPrefix("the expression can never fire") == true)
        #expect(parseError("0 0 31 4,6,9,11 *")?.hasPrefix("the expression can never fire") == true)
        #expect(parseError("0 0 0 30 2 ? 2030") == "the expression can never fire in the years it names")
        // Rare but possible: 29 February, and a 31st.
        #expect(parseError("0 0 29 2 *") == nil)
        #expect(parseError("0 0 0 29 2 ? 2028") == nil)
    }

    @Test func unknownMacrosAndZones() {
        #expect(parseError("@reboot") == "unknown macro '@reboot'")
        #expect(
            parseError("0 3 * * *", tz: "Mars/Olympus")
                == "unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/London)")
        #expect(parseError("0 3 * * *", tz: "") != nil)
        #expect(parseError("0 3 * * *", tz: "Europe/London") == nil)
    }

    @Test func longAndHostileInputIsRefusedQuickly() {
        let long = String(repeating: "1,", count: 5000) + "1 * * * *"
        #expect(parseError(long) == "the expression is longer than 1024 characters")
        #expect(parseError("99999999999999999999 * * * *")?.hasPrefix("minute:") == true)
        #expect(parseError("0 0 * * 5#99999999999") != nil)
        #expect(parseError("💥 * * * *") == "minute: '💥' is not a valid value")
        #expect(parseError("*/9999999 * * * *") == "minute: '9999999' is not a valid step")
        #expect(parseError("*/99 * * * *") == "minute: step 99 is out of range 1-59")
    }
}
