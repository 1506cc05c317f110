import Foundation
import SundialActions
import SundialCore
import SundialSchedule
import Testing

/// Any value in any column goes through validation, planning and finishing without a trap: a
/// row that cannot run becomes invalid with a reason, never a crashed executor.
@Suite struct HostileRowTests {
    static let doubles: [Double] = [
        0, -0.0, 1, -1, 0.5, 1e-300, 1e16, 1e300, -1e300, .infinity, -.infinity, .nan, .greatestFiniteMagnitude,
        Double(Int64.max), Double(Int64.min),
    ]
    static let ints = [0, 1, -1, 2, 100, Int(Int32.max), Int(Int32.min), Int.max, Int.min]
    static let dates: [Date?] = [
        nil, Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -62_135_596_800),
        Date(timeIntervalSince1970: 253_402_300_799), Date.distantFuture, Date.distantPast,
        Date(timeIntervalSince1970: 1_800_000_000),
    ]
    static let schedules: [String?] = [
        nil, "", " ", "* * * * *", "@every 1s", "@every 99999999d", "@every 0s", "@at 0000-01-01T00:30:00+01:00",
        "@at 9999-12-31T23:59:59Z", "@at 10000-01-01T00:00:00Z", "0 0 30 2 *", "* * * * * * 2199", "L W # ?",
        String(repeating: "*/1 ", count: 300), "60 * * * *", "@yearly", "0 0 29 2 * * 2100-2199", "\u{0}",
        "🕐 * * * *",
    ]
    static let zones = ["UTC", "", "Mars/Base", "America/New_York", "Etc/GMT+14", String(repeating: "x", count: 500)]
    static let payloads: [String?] = [
        nil, "", "{}", "[]", "null", "{\"seconds\": 1e308}", "{\"seconds\": -1}", "{\"message\": 3}",
        String(repeating: "{", count: 10_000), "{\"a\":\"\u{0}\"}",
    ]

    @Test func noRowTrapsValidationPlanningOrFinishing() {
        var random = SystemRandomNumberGenerator()
        let definitions = TaskDefinitions(handlers: HandlerRegistry(liveness: ShellLiveness()))
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        for i in 0..<3_000 {
            var row = TaskRow(
                id: Int64(i), name: "fuzz-\(i)",
                action: ["noop", "fail", "sleep", "frobnicate", ""].randomElement(using: &random)!,
                payload: Self.payloads.randomElement(using: &random)!,
                schedule: Self.schedules.randomElement(using: &random)!)
            row.timezone = Self.zones.randomElement(using: &random)!
            row.nextRun = Self.dates.randomElement(using: &random)!
            row.fireAt = Self.dates.randomElement(using: &random)!
            row.attempt = max(0, Self.ints.randomElement(using: &random)!)
            row.maxAttempts = max(1, Self.ints.randomElement(using: &random)!)
            row.backoffSeconds = Self.doubles.randomElement(using: &random)!
            row.backoffMaxSeconds = Self.doubles.randomElement(using: &random)!
            row.timeoutSeconds = Self.doubles.randomElement(using: &random)!
            row.misfireLimit = max(1, Self.ints.randomElement(using: &random)! % 1_000)
            row.misfirePolicy = TaskRow.MisfirePolicy.allCases.randomElement(using: &random)!
            row.delivery = TaskRow.Delivery.allCases.randomElement(using: &random)!
            _ = Duration.clamped(seconds: row.timeoutSeconds ?? 0)
            let schedule: Schedule?
            switch definitions.definition(for: row) {
            case .success(let definition): schedule = definition.schedule
            case .failure(let invalid):
                #expect(!invalid.message.isEmpty)
                continue
            }
            let planner = FirePlanner(row: row, schedule: schedule)
            let fire = row.fireAt ?? now
            for plan in [
                planner.firstFire(now: now),
                planner.afterRun(fireAt: fire, attempt: row.attempt, outcome: .failed("x"), now: now, jitter: 1),
                planner.afterRun(fireAt: fire, attempt: row.attempt, outcome: .succeeded, now: now, jitter: 0),
                planner.afterInterruption(fireAt: fire, attempt: row.attempt, now: now, reason: "gone"),
            ] {
                // Whatever the plan, a store can hold its times.
                for time in [plan.nextRun, plan.fireAt].compactMap({ $0 }) {
                    #expect(StorableTime.contains(time), "row \(i): \(row) planned \(time)")
                }
            }
        }
    }
}
