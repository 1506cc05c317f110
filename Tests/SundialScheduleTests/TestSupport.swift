import Foundation
import Testing

@testable import SundialSchedule

/// An instant from RFC 3339 text; traps on a typo in a test vector.
func instant(_ text: String) -> Date {
    guard let date = RFC3339.parse(text) else { fatalError("bad test instant \(text)") }
    return date
}

/// The next `count` fires after `from`, printed in UTC.
func fires(_ expression: String, tz: String = "UTC", from: String, count: Int = 1) throws -> [String] {
    let schedule = try Schedule(expression, timeZone: tz)
    return schedule.next(after: instant(from), count: count).map { RFC3339.format($0) }
}

/// The error message a schedule text produces, or nil if it parses.
func parseError(_ expression: String, tz: String = "UTC") -> String? {
    do {
        _ = try Schedule(expression, timeZone: tz)
        return nil
    } catch {
        return error.description
    }
}
