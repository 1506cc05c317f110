/// Turns cron text into a `CronExpression`.
///
/// The grammar is Vixie cron's, widened with Quartz's seconds, years, `L`, `W` and `#`. Every
/// input, however long or malformed, ends in an expression or a `ScheduleError`; nothing here
/// loops on input or traps.
enum CronParser {
    static let maximumLength = 1024

    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]

    static func parse(_ text: String) throws(ScheduleError) -> CronExpression {
        guard text.utf8.count <= maximumLength else {
            throw ScheduleError("the expression is longer than \(maximumLength) characters")
        }
        let trimmed = text.trimmingSpaces
        if trimmed.hasPrefix("@") {
            guard let expanded = macros[trimmed.lowercased()] else {
                throw ScheduleError("unknown macro \(quoted(trimmed))")
            }
            return try parse(expanded)
        }
        let parts = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let fields: [CronField]
        switch parts.count {
        case 5: fields = [.minute, .hour, .dayOfMonth, .month, .dayOfWeek]
        case 6: fields = [.second, .minute, .hour, .dayOfMonth, .month, .dayOfWeek]
        case 7: fields = [.second, .minute, .hour, .dayOfMonth, .month, .dayOfWeek, .year]
        case 0: throw ScheduleError("the expression is empty")
        default:
            throw ScheduleError(
                "expected 5 fields (minute hour day-of-month month day-of-week), 6 (seconds first) or 7 (seconds first, year last), found \(parts.count)"
            )
        }
        var texts: [CronField: String] = [.second: "0", .year: "*"]
        for (field, part) in zip(fields, parts) { texts[field] = part }

        var expression = CronExpression(
            seconds: try simpleField(.second, texts[.second]!),
            minutes: try simpleField(.minute, texts[.minute]!),
            hours: try simpleField(.hour, texts[.hour]!),
            daysOfMonth: BitSet64(),
            months: try simpleField(.month, texts[.month]!),
            daysOfWeek: BitSet64(),
            daysMatchEither: !startsWithWildcard(texts[.dayOfMonth]!) && !startsWithWildcard(texts[.dayOfWeek]!),
            isFixedTime: !texts[.minute]!.hasPrefix("*") && !texts[.hour]!.hasPrefix("*"),
            fieldTexts: texts)
        try parseDaysOfMonth(texts[.dayOfMonth]!, into: &expression)
        try parseDaysOfWeek(texts[.dayOfWeek]!, into: &expression)
        if texts[.year] != "*" {
            var years = YearSet()
            for item in try items(.year, texts[.year]!) {
                for y in try values(.year, item) { years.insert(y) }
            }
            expression.yearSet = years
        }
        try ensureCanFire(expression)
        return expression
    }

    // MARK: Fields

    private static func startsWithWildcard(_ text: String) -> Bool {
        text.hasPrefix("*") || text.hasPrefix("?")
    }

    private static func items(_ field: CronField, _ text: String) throws(ScheduleError) -> [Substring] {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        if items.contains(where: \.isEmpty) {
            throw ScheduleError(field: field, "\(quoted(text)) has an empty list item")
        }
        return items
    }

    private static func simpleField(_ field: CronField, _ text: String) throws(ScheduleError) -> BitSet64 {
        var set = BitSet64()
        for item in try items(field, text) {
            if item == "?" {
                throw ScheduleError(field: field, "? is only allowed in day-of-month and day-of-week")
            }
            for v in try values(field, item) { set.insert(v) }
        }
        return set
    }

    private static func parseDaysOfMonth(_ text: String, into e: inout CronExpression) throws(ScheduleError) {
        let field = CronField.dayOfMonth
        for item in try items(field, text) {
            let upper = item.uppercased()
            if upper == "?" {
                e.daysOfMonth = .all(field.range)
            } else if upper == "L" {
                e.lastDayOffsets.append(0)
            } else if upper == "LW" {
                e.lastWeekdayOfMonth = true
            } else if upper.hasPrefix("L-") {
                let offset = try number(field, upper.dropFirst(2), in: 0...30, item: item, what: "offset")
                e.lastDayOffsets.append(offset)
            } else if upper.hasSuffix("W") {
                e.nearestWeekdayDays.append(try number(field, upper.dropLast(), in: 1...31, item: item))
            } else {
                for v in try values(field, item) { e.daysOfMonth.insert(v) }
            }
        }
    }

    private static func parseDaysOfWeek(_ text: String, into e: inout CronExpression) throws(ScheduleError) {
        let field = CronField.dayOfWeek
        for item in try items(field, text) {
            let upper = item.uppercased()
            if upper == "?" {
                e.daysOfWeek = .all(0...6)
            } else if upper == "L" {
                throw ScheduleError(
                    field: field, "L alone is ambiguous here; write 6 for Saturday or 5L for the month's last Friday")
            } else if upper.hasSuffix("L") {
                e.lastWeekdaysOfMonth.insert(try weekday(upper.dropLast(), item: item))
            } else if let hash = upper.firstIndex(of: "#") {
                let weekday = try weekday(upper[..<hash], item: item)
                let n = try number(field, upper[upper.index(after: hash)...], in: 1...5, item: item, what: "occurrence")
                e.nthWeekdays.append(.init(weekday: weekday, n: n))
            } else {
                for v in try values(field, item) { e.daysOfWeek.insert(v % 7) }
            }
        }
    }

    private static func weekday(_ text: Substring, item: Substring) throws(ScheduleError) -> Int {
        try value(.dayOfWeek, text, item: item) % 7
    }

    /// The values of one list item: `*`, `n`, `a-b`, each optionally `/step`, or `a/step`.
    private static func values(_ field: CronField, _ item: Substring) throws(ScheduleError) -> [Int] {
        let range = field.range
        var base = item
        var step = 1
        if let slash = item.firstIndex(of: "/") {
            base = item[..<slash]
            let stepText = item[item.index(after: slash)...]
            step = try number(field, stepText, in: 1...range.upperBound, item: item, what: "step")
        }
        var low: Int
        var high: Int
        if base == "*" || (base == "?" && (field == .dayOfMonth || field == .dayOfWeek)) {
            (low, high) = (range.lowerBound, field == .dayOfWeek ? 6 : range.upperBound)
        } else if let dash = base.firstIndex(of: "-"), dash != base.startIndex {
            low = try value(field, base[..<dash], item: item)
            high = try value(field, base[base.index(after: dash)...], item: item)
            guard low <= high else {
                throw ScheduleError(field: field, "\(quoted(item)): the range starts after it ends")
            }
        } else {
            low = try value(field, base, item: item)
            high = item.contains("/") ? (field == .dayOfWeek ? 6 : range.upperBound) : low
        }
        return Array(stride(from: low, through: high, by: step))
    }

    /// A number or a name, within the field's range.
    private static func value(_ field: CronField, _ text: Substring, item: Substring) throws(ScheduleError) -> Int {
        if let named = field.names[text.uppercased()] { return named }
        return try number(field, text, in: field.range, item: item)
    }

    private static func number(
        _ field: CronField, _ text: Substring, in range: ClosedRange<Int>, item: Substring, what: String = "value"
    ) throws(ScheduleError) -> Int {
        guard !text.isEmpty, text.count <= 6, text.allSatisfy({ $0.isASCII && $0.isNumber }),
            let v = Int(text)
        else {
            if text.isEmpty {
                throw ScheduleError(field: field, "\(quoted(item)) is missing a \(what)")
            }
            throw ScheduleError(field: field, "\(quoted(text)) is not a valid \(what)\(hint(field))")
        }
        guard range.contains(v) else {
            let subject = what == "value" ? "\(v)" : "\(what) \(v)"
            throw ScheduleError(field: field, "\(subject) is out of range \(range.lowerBound)-\(range.upperBound)")
        }
        return v
    }

    private static func hint(_ field: CronField) -> String {
        switch field {
        case .month: return " (use 1-12 or JAN-DEC)"
        case .dayOfWeek: return " (use 0-7 or SUN-SAT)"
        default: return ""
        }
    }

    /// Rejects expressions that match no second in any year they allow, such as `0 0 30 2 *`.
    private static func ensureCanFire(_ e: CronExpression) throws(ScheduleError) {
        let startYear = e.yearSet?.next(atLeast: CronExpression.years.lowerBound) ?? 2000
        let start = WallTime(year: startYear, month: 1, day: 1).wallSeconds
        // The Gregorian calendar repeats every 400 years; unrestricted years need one cycle.
        if e.yearSet == nil {
            if e.nextWall(atOrAfter: start) == nil
                || e.nextWall(atOrAfter: start)! >= WallTime(year: startYear + 400, month: 1, day: 1).wallSeconds
            {
                throw ScheduleError(
                    "the expression can never fire: no day matches day-of-month \(quoted(e.fieldTexts[.dayOfMonth]!)), month \(quoted(e.fieldTexts[.month]!)) and day-of-week \(quoted(e.fieldTexts[.dayOfWeek]!))"
                )
            }
        } else if e.nextWall(atOrAfter: start) == nil {
            throw ScheduleError("the expression can never fire in the years it names")
        }
    }

    static func quoted<S: StringProtocol>(_ text: S) -> String {
        let shown = text.count > 40 ? text.prefix(40) + "…" : Substring(text)
        return "'\(shown)'"
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
