import Testing

@testable import SundialSchedule

@Suite struct ScheduleDescriptionTests {
    @Test(arguments: [
        ("0 3 * * 1-5", "At 03:00, Monday through Friday"),
        ("30 2 * * *", "At 02:30"),
        ("0 9,17 * * *", "At 09:00 and 17:00"),
        ("* * * * *", "Every minute"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("*/5 * * * * *", "Every 5 seconds"),
        ("* * * * * *", "Every second"),
        ("0 */2 * * *", "At minute 0, every 2 hours"),
        ("0 9-17 * * MON-FRI", "At minute 0, between 09:00 and 17:59, Monday through Friday"),
        ("0 0 L * *", "At 00:00, on the last day of the month"),
        ("0 0 15W * *", "At 00:00, on the weekday nearest day 15 of the month"),
        ("0 0 * * 5L", "At 00:00, on the last Friday of the month"),
        ("0 0 * * 5#3", "At 00:00, on the third Friday of the month"),
        ("0 0 13 * 5", "At 00:00, on day 13 of the month, or Friday"),
        ("0 0 1 JAN,JUL *", "At 00:00, on day 1 of the month, in January and July"),
        ("0 0 0 1 1 ? 2030", "At 00:00, on day 1 of the month, in January, in 2030"),
        ("@every 90s", "Every 90 seconds"),
        ("@every 5m", "Every 5 minutes"),
        ("@every 1h30m", "Every 90 minutes"),
        ("@every 2h", "Every 2 hours"),
        ("@every 1d", "Every 1 day"),
        ("@at 2026-12-01T03:00:00Z", "Once, at 2026-12-01T03:00:00Z"),
    ])
    func describes(expression: String, expected: String) throws {
        #expect(try Schedule(expression).description == expected)
    }

    @Test func namesANonUTCZone() throws {
        #expect(try Schedule("0 3 * * *", timeZone: "Europe/London").description == "At 03:00 (Europe/London)")
    }
}
