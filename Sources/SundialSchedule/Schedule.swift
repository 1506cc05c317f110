import Foundation

/// When a task fires: a cron expression in a time zone, a fixed-rate interval, or one instant.
///
/// ```swift
/// let schedule = try Schedule("30 2 * * *", timeZone: "America/New_York")
/// schedule.next(after: .now)          // the next 02:30 in New York, as an instant
/// schedule.description                // "At 02:30"
/// ```
///
/// Cron fires are whole seconds. Daylight saving time follows Debian cron's rule (see
/// `isFixedTime`): a fixed-time fire that falls into a spring-forward gap runs once, at the first
/// instant after the gap, and one in a repeated fall-back hour runs once, at its first occurrence;
/// other schedules follow the real clock, firing in both copies of a repeated hour and not at all
/// inside a gap.
public struct Schedule: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// A cron expression, read in the schedule's time zone.
        case cron(CronExpression)
        /// `@every 90s`: fires at `anchor + k × seconds`, so it never drifts.
        case interval(seconds: Int64)
        /// `@at 2026-12-01T03:00:00Z`: fires once.
        case once(Date)
    }

    public let kind: Kind
    /// The text the schedule was parsed from.
    public let text: String
    /// An IANA time zone identifier such as `Europe/London`; `UTC` by default.
    public let timeZone: String
    /// Intervals fire on the grid `anchor + k × interval`: anchor a schedule at its previous
    /// scheduled fire to get a fixed rate from that fire.
    public private(set) var anchor: Date = Date(timeIntervalSince1970: 0)
    private let zone: ZoneRules

    /// Parses a cron expression (5, 6 or 7 fields), a macro (`@daily`, `@every 1h30m`,
    /// `@at 2026-12-01T03:00:00Z`) or a bare RFC 3339 instant.
    public init(_ text: String, timeZone: String = "UTC") throws(ScheduleError) {
        guard let zone = ZoneRules.named(timeZone) else {
            throw ScheduleError(
                "unknown time zone \(CronParser.quoted(timeZone)) (use an IANA name such as Europe/London)")
        }
        let trimmed = text.trimmingSpaces
        let lower = trimmed.lowercased()
        if lower.hasPrefix("@every") {
            kind = .interval(seconds: try Self.parseDuration(String(trimmed.dropFirst(6)).trimmingSpaces))
        } else if lower.hasPrefix("@at") {
            kind = .once(try Self.parseInstant(String(trimmed.dropFirst(3)).trimmingSpaces))
        } else if let instant = RFC3339.parse(trimmed) {
            kind = .once(instant)
        } else {
            kind = .cron(try CronParser.parse(trimmed))
        }
        self.text = trimmed
        self.timeZone = timeZone
        self.zone = zone
    }

    /// The same schedule with intervals counted from `anchor` (normally the previous scheduled
    /// fire). Cron expressions and one-shots are unaffected.
    public func anchored(at anchor: Date) -> Schedule {
        var copy = self
        copy.anchor = anchor
        return copy
    }

    /// Whether it fires more than once (a cron expression or an interval, not a one-shot).
    public var isRecurring: Bool {
        if case .once = kind { return false }
        return true
    }

    /// Whether `identifier` names an IANA time zone this system knows.
    public static func isKnownTimeZone(_ identifier: String) -> Bool {
        ZoneRules.named(identifier) != nil
    }

    /// Debian cron's notion of a fixed-time job: neither the minute nor the hour field starts with
    /// `*`. Only these get the DST adjustments.
    public var isFixedTime: Bool {
        if case .cron(let e) = kind { return e.isFixedTime }
        return false
    }

    // MARK: Queries

    /// The first fire strictly after `date`, or nil when there is none (a one-shot in the past, a
    /// 7-field expression whose years are over).
    public func next(after date: Date) -> Date? {
        switch kind {
        case .once(let at):
            return at > date ? at : nil
        case .interval(let seconds):
            let step = Double(seconds)
            var k = ((date.timeIntervalSince(anchor)) / step).rounded(.down) + 1
            var fire = anchor.addingTimeInterval(k * step)
            while fire <= date {
                k += 1
                fire = anchor.addingTimeInterval(k * step)
            }
            return fire
        case .cron(let e):
            let t = date.timeIntervalSince1970
            guard t.isFinite, t < Self.lastSearchable else { return nil }
            let start = t < Self.firstSearchable ? Int64(Self.firstSearchable) : Int64(t.rounded(.down)) + 1
            return cronFire(e, atOrAfter: start).map { Date(timeIntervalSince1970: Double($0)) }
        }
    }

    /// The next `count` fires after `date`, fewer if the schedule ends.
    public func next(after date: Date, count: Int) -> [Date] {
        var fires: [Date] = []
        var cursor = date
        while fires.count < count, let fire = next(after: cursor) {
            fires.append(fire)
            cursor = fire
        }
        return fires
    }

    /// The last fire strictly before `date`, or nil when there is none.
    public func previous(before date: Date) -> Date? {
        switch kind {
        case .once(let at):
            return at < date ? at : nil
        case .interval(let seconds):
            let step = Double(seconds)
            var k = (date.timeIntervalSince(anchor) / step).rounded(.up) - 1
            var fire = anchor.addingTimeInterval(k * step)
            while fire >= date {
                k -= 1
                fire = anchor.addingTimeInterval(k * step)
            }
            return fire
        case .cron(let e):
            let t = date.timeIntervalSince1970
            guard t.isFinite, t > Self.firstSearchable else { return nil }
            let end = t > Self.lastSearchable ? Int64(Self.lastSearchable) : Int64(t.rounded(.up)) - 1
            return cronFire(e, atOrBefore: end).map { Date(timeIntervalSince1970: Double($0)) }
        }
    }

    /// Whether the schedule fires at exactly `date`.
    public func matches(_ date: Date) -> Bool {
        switch kind {
        case .once(let at):
            return at == date
        case .interval(let seconds):
            let k = date.timeIntervalSince(anchor) / Double(seconds)
            return k == k.rounded()
        case .cron(let e):
            let t = date.timeIntervalSince1970
            guard t.isFinite, t == t.rounded(), t > Self.firstSearchable, t < Self.lastSearchable else { return false }
            return cronMatches(e, utc: Int64(t))
        }
    }

    public var description: String { ScheduleDescription.describe(self) }

    /// The schedule's zone offset from UTC at `date`, in seconds (for printing local times).
    public func utcOffset(at date: Date) -> Int {
        Int(zone.offset(atUTC: Int64(date.timeIntervalSince1970.rounded(.down))))
    }

    /// Instants the cron search covers: 1969-12-31 to the end of 2199, with a day to spare for offsets.
    private static let firstSearchable: Double = -86_400 * 2
    private static let lastSearchable: Double = 7_258_204_800

    // MARK: Cron in a time zone

    // The zone's timeline is a run of segments, each with one offset. A segment shows the wall
    // times [start + offset, end + offset). Where the offset grows there is a gap: wall times no
    // instant shows. Where it shrinks, the new segment repeats wall times the previous one showed.
    // Fixed-time schedules fire a repeated wall time only in the first segment that shows it, and
    // fire once at a segment's first instant when the gap before it held a matching wall time.

    private func gapBefore(segment i: Int) -> (wallStart: Int64, wallEnd: Int64)? {
        guard i > 0, zone.offsets[i] > zone.offsets[i - 1] else { return nil }
        let start = zone.start(ofSegment: i)
        return (start + zone.offsets[i - 1], start + zone.offsets[i])
    }

    /// The lowest wall time at which a fire in segment `i` counts.
    private func firstFiringWall(segment i: Int, fixedTime: Bool) -> Int64 {
        let start = zone.start(ofSegment: i)
        guard start != Int64.min else { return Int64.min }
        let shown = start + zone.offsets[i]
        if fixedTime, i > 0, zone.offsets[i] < zone.offsets[i - 1] {
            return start + zone.offsets[i - 1]
        }
        return shown
    }

    private func cronFire(_ e: CronExpression, atOrAfter from: Int64) -> Int64? {
        var i = zone.segment(containing: from)
        var from = from
        while true {
            let offset = zone.offsets[i]
            let start = zone.start(ofSegment: i)
            if e.isFixedTime, from <= start, let gap = gapBefore(segment: i),
                let w = e.nextWall(atOrAfter: gap.wallStart), w < gap.wallEnd
            {
                return start
            }
            let lowest = max(from + offset, firstFiringWall(segment: i, fixedTime: e.isFixedTime))
            guard let w = e.nextWall(atOrAfter: lowest) else { return nil }
            let end = zone.end(ofSegment: i)
            if end == Int64.max || w < end + offset { return w - offset }
            // Nothing matches before w, so no segment before the one showing w can fire. Offsets
            // stay within a day of UTC: two days back is safely at or before that segment.
            i = max(i + 1, zone.segment(containing: w - 172_800))
            from = zone.start(ofSegment: i)
        }
    }

    private func cronFire(_ e: CronExpression, atOrBefore to: Int64) -> Int64? {
        var i = zone.segment(containing: to)
        var to = to
        while true {
            let offset = zone.offsets[i]
            let start = zone.start(ofSegment: i)
            let lowest = firstFiringWall(segment: i, fixedTime: e.isFixedTime)
            let upper = min(to, zone.end(ofSegment: i) - 1) + offset
            var candidate: Int64? = nil
            if let w = e.previousWall(atOrBefore: upper) {
                if w >= lowest { return w - offset }
                candidate = w
            }
            if e.isFixedTime, start <= to, let gap = gapBefore(segment: i),
                let w = e.nextWall(atOrAfter: gap.wallStart), w < gap.wallEnd
            {
                return start
            }
            guard let w = candidate, i > 0 else { return nil }
            // Nothing matches after w up to here, so skip the segments in between.
            // The segment after the one showing w is kept: its gap may hold w.
            i = min(i - 1, zone.segment(containing: w + 172_800) + 1)
            to = zone.end(ofSegment: i) - 1
        }
    }

    private func cronMatches(_ e: CronExpression, utc: Int64) -> Bool {
        let i = zone.segment(containing: utc)
        let wall = utc + zone.offsets[i]
        if e.matches(wall: WallTime(wallSeconds: wall)), wall >= firstFiringWall(segment: i, fixedTime: e.isFixedTime) {
            return true
        }
        if e.isFixedTime, utc == zone.start(ofSegment: i), let gap = gapBefore(segment: i),
            let w = e.nextWall(atOrAfter: gap.wallStart), w < gap.wallEnd
        {
            return true
        }
        return false
    }

    // MARK: Parsing helpers

    private static func parseDuration(_ text: String) throws(ScheduleError) -> Int64 {
        guard !text.isEmpty else { throw ScheduleError("@every needs a duration such as 90s, 5m or 1h30m") }
        guard text.count <= 40 else { throw ScheduleError("@every: \(CronParser.quoted(text)) is not a duration") }
        var total: Int64 = 0
        var digits = ""
        var sawUnit = false
        for c in text {
            if c.isASCII, c.isNumber {
                digits.append(c)
                continue
            }
            let unit: Int64
            switch c {
            case "d": unit = 86_400
            case "h": unit = 3600
            case "m": unit = 60
            case "s": unit = 1
            default:
                throw ScheduleError(
                    "@every: \(CronParser.quoted(text)) is not a duration (use units d, h, m, s as in 1h30m)")
            }
            guard let n = Int64(digits), n <= 1_000_000_000 else {
                throw ScheduleError(
                    "@every: \(CronParser.quoted(text)) is not a duration (use units d, h, m, s as in 1h30m)")
            }
            total += n * unit
            digits = ""
            sawUnit = true
        }
        guard digits.isEmpty, sawUnit else {
            throw ScheduleError("@every: \(CronParser.quoted(text)) needs a unit after each number (d, h, m, s)")
        }
        guard total >= 1 else { throw ScheduleError("@every: the interval must be at least 1s") }
        guard total <= 366 * 86_400 * 100 else { throw ScheduleError("@every: the interval is longer than a century") }
        return total
    }

    private static func parseInstant(_ text: String) throws(ScheduleError) -> Date {
        guard let date = RFC3339.parse(text) else {
            throw ScheduleError("@at: \(CronParser.quoted(text)) is not an RFC 3339 time such as 2026-12-01T03:00:00Z")
        }
        return date
    }

    public static func == (a: Schedule, b: Schedule) -> Bool {
        a.kind == b.kind && a.timeZone == b.timeZone && a.anchor == b.anchor
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(timeZone)
        hasher.combine(anchor)
    }
}
