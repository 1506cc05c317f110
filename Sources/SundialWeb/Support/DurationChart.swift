import Foundation
import SundialCore

/// A task page's chart: how long each listed run took, oldest on the left, coloured by outcome
/// (a running one counts up to now), as SVG drawn on the server. Only numbers and fixed words go
/// into it, so it is inserted into the page unescaped.
enum DurationChart {
    static let width = 720.0
    static let height = 150.0

    static func svg(_ runs: [RunInfo], now: Date) -> String? {
        guard !runs.isEmpty else { return nil }
        let oldestFirst = runs.sorted { $0.id < $1.id }
        let seconds = oldestFirst.map { max(0, ($0.finishedAt ?? now).timeIntervalSince($0.startedAt)) }
        let top = max(seconds.max() ?? 0, 0.001)
        let (left, bottom) = (64.0, 8.0)
        let slot = (width - left) / Double(max(oldestFirst.count, 20))
        var parts = [
            #"<svg class="chart" viewBox="0 0 \#(Int(width)) \#(Int(height))" role="img" aria-labelledby="durations-title">"#,
            #"<title id="durations-title">Duration of the \#(oldestFirst.count) runs listed, oldest first (longest: \#(DurationText.format(top)))</title>"#,
            #"<text class="axis" x="0" y="12">\#(DurationText.format(top))</text>"#,
            #"<text class="axis" x="0" y="\#(Int(height - bottom))">0</text>"#,
        ]
        for (index, run) in oldestFirst.enumerated() {
            let h = max(1, (height - bottom - 4) * seconds[index] / top)
            parts.append(
                String(
                    format:
                        #"<a href="/run?id=%lld"><rect class="%@" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>run %lld, %@: %@</title></rect></a>"#,
                    run.id, style(run.status), left + Double(index) * slot + 1, height - bottom - h,
                    max(1, slot - 2), h, run.id, run.status.rawValue, DurationText.format(seconds[index])))
        }
        parts.append("</svg>")
        return parts.joined()
    }

    static func style(_ status: RunStatus) -> String {
        switch status {
        case .succeeded: "ok"
        case .running: "muted"
        case .killed, .timedOut: "warn"
        case .failed, .lost: "bad"
        }
    }
}
