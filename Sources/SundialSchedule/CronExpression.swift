/// A parsed cron expression, searched in wall-clock time.
///
/// Each field is a bit set, so finding the next matching second is a handful of bit scans per
/// calendar level rather than a second-by-second walk. Days are the exception: which days of a
/// month match depends on the month's length and the weekday it starts on (`L`, `W`, `#`, and the
/// day-of-month/day-of-week rule), so they are computed per month as a 32-bit mask.
public struct CronExpression: Sendable, Hashable {
    /// The years a 7-field expression may name.
    public static let years = 1970...2199

    var seconds: BitSet64
    var minutes: BitSet64
    var hours: BitSet64
    var daysOfMonth: BitSet64
    /// `L` and `L-n`: days counted back from the month's last day (0 for `L`).
    var lastDayOffsets: [Int] = []
    /// `nW`: the weekday nearest day n, without leaving the month.
    var nearestWeekdayDays: [Int] = []
    /// `LW`: the last weekday (Monday to Friday) of the month.
    var lastWeekdayOfMonth = false
    var months: BitSet64
    /// Weekdays, 0 = Sunday.
    var daysOfWeek: BitSet64
    /// `5L`: the last Friday of the month, and so on.
    var lastWeekdaysOfMonth: BitSet64 = BitSet64()
    /// `5#3`: the third Friday of the month, as (weekday, n).
    var nthWeekdays: [NthWeekday] = []
    var yearSet: YearSet?
    /// Vixie cron: when both day fields are restricted a day matches if either matches; when
    /// either starts with `*` (or `?`), both must match.
    var daysMatchEither: Bool
    /// Debian cron's DST rule applies to fixed-time jobs: neither minute nor hour starts with `*`.
    public internal(set) var isFixedTime: Bool
    /// The expression's fields as written, for descriptions and error messages.
    var fieldTexts: [CronField: String]

    struct NthWeekday: Hashable, Sendable {
        var weekday: Int
        var n: Int
    }

    // MARK: Days

    /// Bit d set for each day d of the month that matches both day fields.
    func dayMask(year: Int, month: Int) -> UInt64 {
        let length = CivilTime.daysInMonth(year: year, month: month)
        let monthBits: UInt64 = ((1 << UInt64(length + 1)) - 1) & ~1
        let firstWeekday = CivilTime.weekday(days: CivilTime.days(year: year, month: month, day: 1))
        func weekday(ofDay day: Int) -> Int { (firstWeekday + day - 1) % 7 }
        func firstDay(ofWeekday w: Int) -> Int { 1 + (w - firstWeekday + 7) % 7 }

        var byDay = daysOfMonth.bits & monthBits
        for offset in lastDayOffsets where length - offset >= 1 {
            byDay |= 1 << UInt64(length - offset)
        }
        for day in nearestWeekdayDays where day <= length {
            var nearest = day
            switch weekday(ofDay: day) {
            case 6: nearest = day == 1 ? 3 : day - 1
            case 0: nearest = day == length ? day - 2 : day + 1
            default: break
            }
            byDay |= 1 << UInt64(nearest)
        }
        if lastWeekdayOfMonth {
            switch weekday(ofDay: length) {
            case 6: byDay |= 1 << UInt64(length - 1)
            case 0: byDay |= 1 << UInt64(length - 2)
            default: byDay |= 1 << UInt64(length)
            }
        }

        var byWeekday: UInt64 = 0
        if daysOfWeek.bits & 0x7F == 0x7F {
            byWeekday = monthBits
        } else {
            for w in 0..<7 where daysOfWeek.contains(w) {
                var day = firstDay(ofWeekday: w)
                while day <= length {
                    byWeekday |= 1 << UInt64(day)
                    day += 7
                }
            }
        }
        if !lastWeekdaysOfMonth.isEmpty {
            for w in 0..<7 where lastWeekdaysOfMonth.contains(w) {
                let first = firstDay(ofWeekday: w)
                byWeekday |= 1 << UInt64(first + (length - first) / 7 * 7)
            }
        }
        for nth in nthWeekdays {
            let day = firstDay(ofWeekday: nth.weekday) + 7 * (nth.n - 1)
            if day <= length { byWeekday |= 1 << UInt64(day) }
        }
        return daysMatchEither ? (byDay | byWeekday) : (byDay & byWeekday)
    }

    // MARK: Matching and searching in wall time

    /// Whether a wall-clock time matches every field.
    func matches(wall: WallTime) -> Bool {
        seconds.contains(wall.second) && minutes.contains(wall.minute) && hours.contains(wall.hour)
            && months.contains(wall.month) && (yearSet?.contains(wall.year) ?? true)
            && dayMask(year: wall.year, month: wall.month) & (1 << UInt64(wall.day)) != 0
    }

    /// The first matching wall time at or after `wallSeconds`, or nil if there is none by the end
    /// of `years`.
    func nextWall(atOrAfter wallSeconds: Int64) -> Int64? {
        var t = WallTime(wallSeconds: wallSeconds)
        if t.year < Self.years.lowerBound { t = WallTime(year: Self.years.lowerBound, month: 1, day: 1) }
        // Each pass either returns or moves t forward to the start of a later unit, and there are
        // at most a few hundred thousand units up to the last year: the loop always ends.
        while t.year <= Self.years.upperBound {
            if let years = yearSet, !years.contains(t.year) {
                guard let year = years.next(atLeast: t.year) else { return nil }
                t = WallTime(year: year, month: 1, day: 1)
                continue
            }
            guard let month = months.next(atLeast: t.month) else {
                t = WallTime(year: t.year + 1, month: 1, day: 1)
                continue
            }
            if month != t.month { t = WallTime(year: t.year, month: month, day: 1) }
            let days = dayMask(year: t.year, month: t.month) & (UInt64.max << UInt64(t.day))
            if days == 0 {
                t =
                    t.month == 12
                    ? WallTime(year: t.year + 1, month: 1, day: 1)
                    : WallTime(year: t.year, month: t.month + 1, day: 1)
                continue
            }
            let day = days.trailingZeroBitCount
            if day != t.day { t = WallTime(year: t.year, month: t.month, day: day) }
            guard let hour = hours.next(atLeast: t.hour) else {
                t = WallTime(wallSeconds: WallTime(year: t.year, month: t.month, day: t.day).wallSeconds + 86_400)
                continue
            }
            if hour != t.hour { (t.hour, t.minute, t.second) = (hour, 0, 0) }
            guard let minute = minutes.next(atLeast: t.minute) else {
                t = WallTime(wallSeconds: startOfHour(t) + 3600)
                continue
            }
            if minute != t.minute { (t.minute, t.second) = (minute, 0) }
            guard let second = seconds.next(atLeast: t.second) else {
                t = WallTime(wallSeconds: startOfHour(t) + Int64(t.minute + 1) * 60)
                continue
            }
            t.second = second
            return t.wallSeconds
        }
        return nil
    }

    /// The last matching wall time at or before `wallSeconds`, or nil if there is none since the
    /// start of `years`.
    func previousWall(atOrBefore wallSeconds: Int64) -> Int64? {
        var t = WallTime(wallSeconds: wallSeconds)
        if t.year > Self.years.upperBound {
            t = WallTime(year: Self.years.upperBound, month: 12, day: 31, hour: 23, minute: 59, second: 59)
        }
        while t.year >= Self.years.lowerBound {
            if let years = yearSet, !years.contains(t.year) {
                guard let year = years.previous(atMost: t.year) else { return nil }
                t = Self.endOfYear(year)
                continue
            }
            guard let month = months.previous(atMost: t.month) else {
                t = Self.endOfYear(t.year - 1)
                continue
            }
            if month != t.month { t = Self.endOfMonth(year: t.year, month: month) }
            let days = dayMask(year: t.year, month: t.month) & ((2 << UInt64(t.day)) - 1)
            if days == 0 {
                t = t.month == 1 ? Self.endOfYear(t.year - 1) : Self.endOfMonth(year: t.year, month: t.month - 1)
                continue
            }
            let day = 63 - days.leadingZeroBitCount
            if day != t.day { (t.day, t.hour, t.minute, t.second) = (day, 23, 59, 59) }
            guard let hour = hours.previous(atMost: t.hour) else {
                t = WallTime(wallSeconds: WallTime(year: t.year, month: t.month, day: t.day).wallSeconds - 1)
                continue
            }
            if hour != t.hour { (t.hour, t.minute, t.second) = (hour, 59, 59) }
            guard let minute = minutes.previous(atMost: t.minute) else {
                t = WallTime(wallSeconds: startOfHour(t) - 1)
                continue
            }
            if minute != t.minute { (t.minute, t.second) = (minute, 59) }
            guard let second = seconds.previous(atMost: t.second) else {
                t = WallTime(wallSeconds: startOfHour(t) + Int64(t.minute) * 60 - 1)
                continue
            }
            t.second = second
            return t.wallSeconds
        }
        return nil
    }

    private func startOfHour(_ t: WallTime) -> Int64 {
        WallTime(year: t.year, month: t.month, day: t.day, hour: t.hour).wallSeconds
    }

    private static func endOfYear(_ year: Int) -> WallTime {
        WallTime(year: year, month: 12, day: 31, hour: 23, minute: 59, second: 59)
    }

    private static func endOfMonth(year: Int, month: Int) -> WallTime {
        WallTime(
            year: year, month: month, day: CivilTime.daysInMonth(year: year, month: month),
            hour: 23, minute: 59, second: 59)
    }
}

/// The years of a 7-field expression, as bits over `CronExpression.years`.
struct YearSet: Hashable, Sendable {
    private var words: [UInt64] = [0, 0, 0, 0]
    private static let base = CronExpression.years.lowerBound

    mutating func insert(_ year: Int) {
        let i = year - Self.base
        words[i / 64] |= 1 << UInt64(i % 64)
    }

    func contains(_ year: Int) -> Bool {
        let i = year - Self.base
        return CronExpression.years.contains(year) && words[i / 64] & (1 << UInt64(i % 64)) != 0
    }

    var isEmpty: Bool { words.allSatisfy { $0 == 0 } }
    var values: [Int] { CronExpression.years.filter(contains) }

    func next(atLeast year: Int) -> Int? {
        var y = max(year, CronExpression.years.lowerBound)
        while y <= CronExpression.years.upperBound {
            let i = y - Self.base
            let masked = words[i / 64] & (UInt64.max << UInt64(i % 64))
            if masked != 0 { return Self.base + (i / 64) * 64 + masked.trailingZeroBitCount }
            y = Self.base + (i / 64 + 1) * 64
        }
        return nil
    }

    func previous(atMost year: Int) -> Int? {
        var y = min(year, CronExpression.years.upperBound)
        while y >= CronExpression.years.lowerBound {
            let i = y - Self.base
            let bit = i % 64
            let masked = bit == 63 ? words[i / 64] : words[i / 64] & ((1 << UInt64(bit + 1)) - 1)
            if masked != 0 { return Self.base + (i / 64) * 64 + 63 - masked.leadingZeroBitCount }
            y = Self.base + (i / 64) * 64 - 1
        }
        return nil
    }
}
