import Foundation

/// RFC 3339 timestamps (`2026-12-01T03:00:00Z`, `2026-03-08T03:00:00-04:00`), by hand: the
/// grammar is small and Foundation's formatters are slow and locale-sensitive.
public enum RFC3339 {
    /// Parses `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH:MM)`.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20, b.count <= 40 else { return nil }
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for i in at..<(at + n) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == 45, let month = digits(5, 2), b[7] == 45,
            let day = digits(8, 2), [84, 116, 32].contains(b[10]),
            let hour = digits(11, 2), b[13] == 58, let minute = digits(14, 2), b[16] == 58,
            let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= CivilTime.daysInMonth(year: year, month: month),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            guard i > start else { return nil }
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == 90 || b[i] == 122 {
            i += 1
        } else if b[i] == 43 || b[i] == 45 {
            guard let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = digits(i + 4, 2),
                oh <= 23, om <= 59
            else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let wall = WallTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return Date(timeIntervalSince1970: Double(wall.wallSeconds - Int64(offset)) + fraction)
    }

    /// Formats whole seconds with the given offset from UTC: `2026-03-08T03:00:00-04:00`, or
    /// `…Z` for offset 0.
    public static func format(_ date: Date, utcOffset: Int = 0) -> String {
        let utc = Int64(date.timeIntervalSince1970.rounded(.down))
        let wall = WallTime(wallSeconds: utc + Int64(utcOffset))
        guard utcOffset != 0 else { return "\(wall)Z" }
        let sign = utcOffset < 0 ? "-" : "+"
        let magnitude = abs(utcOffset)
        let hours = String(magnitude / 3600)
        let minutes = String(magnitude / 60 % 60)
        return "\(wall)\(sign)\(hours.count < 2 ? "0" + hours : hours):\(minutes.count < 2 ? "0" + minutes : minutes)"
    }
}
