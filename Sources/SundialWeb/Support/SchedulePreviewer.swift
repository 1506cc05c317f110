import Foundation
import SundialSchedule

/// What a schedule means and when it fires next, for the form's preview and the API.
enum SchedulePreviewer {
    struct Fire: Encodable, Sendable {
        var utc: Date
        var local: String
        /// The zone's offset changed since the fire before (or since now, for the first).
        var daylightSavingChange: Bool
    }

    struct Preview: Sendable {
        var valid: Bool
        var description: String?
        var error: String?
        var fires: [Fire]
    }

    static func preview(_ expression: String, zone: String, count: Int, now: Date) -> Preview {
        do {
            let schedule = try Schedule(expression, timeZone: zone)
            let tz = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
            var offset = tz.secondsFromGMT(for: now)
            let fires = schedule.next(after: now, count: min(50, max(1, count))).map { fire in
                defer { offset = tz.secondsFromGMT(for: fire) }
                return Fire(
                    utc: fire, local: TimeText.format(fire, zone: zone),
                    daylightSavingChange: tz.secondsFromGMT(for: fire) != offset)
            }
            return Preview(valid: true, description: schedule.description, error: nil, fires: fires)
        } catch {
            return Preview(valid: false, description: nil, error: error.description, fires: [])
        }
    }
}
