import Foundation
import SundialSchedule

/// A time as the pages show it: relative ("in 3 min", "5 s ago") with the exact time in the
/// viewer's zone on hover, and machine-readable for scripts.
public struct TimeText: Sendable {
    public var iso: String
    public var relative: String
    public var exact: String

    public init(_ date: Date, now: Date, zone: String) {
        iso = RFC3339.format(date)
        exact = Self.format(date, zone: zone)
        relative = Self.relative(date.timeIntervalSince(now))
    }

    public static func format(_ date: Date, zone: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss zzz"
        return formatter.string(from: date)
    }

    static func relative(_ seconds: Double) -> String {
        let size = abs(seconds)
        let amount: String
        switch size {
        case ..<1: return "now"
        case ..<60: amount = "\(Int(size)) s"
        case ..<3600: amount = "\(Int(size / 60)) min"
        case ..<172_800: amount = "\(Int(size / 3600)) h"
        default: amount = "\(Int(size / 86_400)) d"
        }
        return seconds > 0 ? "in \(amount)" : "\(amount) ago"
    }
}

/// A duration in seconds as people read it.
enum DurationText {
    static func format(_ seconds: Double?) -> String {
        guard let seconds else { return "-" }
        switch seconds {
        case ..<1: return String(format: "%.0f ms", seconds * 1000)
        case ..<60: return String(format: "%.1f s", seconds)
        case ..<3600:
            return String(
                format: "%.0f min %02.0f s", (seconds / 60).rounded(.down), seconds.truncatingRemainder(dividingBy: 60))
        default: return String(format: "%.1f h", seconds / 3600)
        }
    }
}
