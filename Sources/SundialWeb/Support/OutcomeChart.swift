import Foundation
import SundialCore

/// The dashboard's chart: runs finished per hour over the last day, stacked by outcome, as SVG
/// drawn on the server (no script, no external resource). Only numbers and fixed words go into
/// it, so it is inserted into the page unescaped.
enum OutcomeChart {
    static let width = 720.0
    static let height = 180.0
    static let groups: [(String, String, [RunStatus])] = [
        ("succeeded", "ok", [.succeeded]), ("failed", "bad", [.failed, .timedOut, .lost, .killed]),
    ]

    static func svg(byHour: [Date: [RunStatus: Int]], endingAt now: Date, zone: String) -> String {
        let thisHour = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        let hours = (0..<24).reversed().map { thisHour.addingTimeInterval(-3600 * Double($0)) }
        let totals = hours.map { hour in byHour[hour]?.values.reduce(0, +) ?? 0 }
        let top = max(1, totals.max() ?? 1)
        let (left, bottom) = (44.0, 22.0)
        let barWidth = (width - left) / 24
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
        formatter.dateFormat = "HH"
        var parts = [
            #"<svg class="chart" viewBox="0 0 \#(Int(width)) \#(Int(height))" role="img" aria-labelledby="chart-title">"#,
            #"<title id="chart-title">Runs finished per hour over the last day, by outcome (most: \#(top))</title>"#,
            #"<text class="axis" x="0" y="12">\#(top)</text><text class="axis" x="0" y="\#(Int(height - bottom))">0</text>"#,
        ]
        for (index, hour) in hours.enumerated() {
            let x = left + Double(index) * barWidth
            var y = height - bottom
            for (label, style, statuses) in groups {
                let count = statuses.reduce(0) { $0 + (byHour[hour]?[$1] ?? 0) }
                guard count > 0 else { continue }
                let h = (height - bottom - 4) * Double(count) / Double(top)
                y -= h
                parts.append(
                    String(
                        format:
                            #"<rect class="%@" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%@: %d %@</title></rect>"#,
                        style, x + 1, y, barWidth - 2, h, formatter.string(from: hour), count, label))
            }
            if index % 3 == 0 {
                parts.append(
                    String(
                        format: #"<text class="axis" x="%.1f" y="%.1f">%@</text>"#, x + 2, height - 6,
                        formatter.string(from: hour)))
            }
        }
        parts.append("</svg>")
        return parts.joined()
    }
}
