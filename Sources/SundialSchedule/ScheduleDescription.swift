/// Plain-English descriptions: "At 03:00, Monday through Friday", "Every 90 seconds".
enum ScheduleDescription {
    static func describe(_ schedule: Schedule) -> String {
        switch schedule.kind {
        case .interval(let seconds):
            return "Every " + duration(seconds)
        case .once(let at):
            return "Once, at " + RFC3339.format(at, utcOffset: schedule.utcOffset(at: at))
        case .cron(let e):
            var text = cron(e)
            if schedule.timeZone != "UTC" { text += " (\(schedule.timeZone))" }
            return text
        }
    }

    static func duration(_ seconds: Int64) -> String {
        let units: [(Int64, String)] = [(86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]
        // A single unit reads best ("90 seconds", "36 hours"); mixed ones are spelled out.
        for (size, name) in units where seconds % size == 0 {
            let n = seconds / size
            if n < 100 || size == 86_400 || seconds % 60 != 0 { return plural(n, name) }
        }
        var rest = seconds
        var parts: [String] = []
        for (size, name) in units where rest >= size {
            parts.append(plural(rest / size, name))
            rest %= size
        }
        return list(parts)
    }

    private static func plural(_ n: Int64, _ unit: String) -> String {
        n == 1 ? "1 \(unit)" : "\(n) \(unit)s"
    }

    // MARK: Cron

    private static let monthNames = [
        "", "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
    ]
    private static let weekdayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let ordinals = ["", "first", "second", "third", "fourth", "fifth"]

    private static func cron(_ e: CronExpression) -> String {
        let s = e.fieldTexts[.second] ?? "0"
        let m = e.fieldTexts[.minute] ?? "*"
        let h = e.fieldTexts[.hour] ?? "*"
        var parts: [String] = []

        if let second = Int(s), let minute = Int(m), let hour = Int(h) {
            parts.append("At " + clock(hour, minute, second))
        } else if let second = Int(s), let minute = Int(m), isList(h) {
            let hours = e.hours.values.map { clock($0, minute, second) }
            parts.append("At " + list(hours))
        } else {
            var time: [String] = []
            if s == "*" {
                time.append("every second")
            } else if s != "0" {
                time.append(unitPhrase(s, unit: "second", field: .second))
            }
            if m == "*" {
                // "Every 5 seconds" already says it runs every minute.
                if s != "*" && !s.hasPrefix("*/") { time.append("every minute") }
            } else {
                time.append(unitPhrase(m, unit: "minute", field: .minute))
            }
            if h != "*" {
                time.append(hourPhrase(h))
            }
            parts.append(capitalized(time.joined(separator: ", ")))
        }

        let days = dayPhrases(e)
        if !days.isEmpty { parts.append(days) }
        let months = e.fieldTexts[.month] ?? "*"
        if months != "*" {
            parts.append("in " + itemsPhrase(months, field: .month) { monthNames[$0] })
        }
        if let years = e.fieldTexts[.year], years != "*" {
            parts.append("in " + itemsPhrase(years, field: .year) { String($0) })
        }
        return parts.joined(separator: ", ")
    }

    private static func dayPhrases(_ e: CronExpression) -> String {
        let dom = e.fieldTexts[.dayOfMonth] ?? "*"
        let dow = e.fieldTexts[.dayOfWeek] ?? "*"
        var phrases: [String] = []
        if dom != "*" && dom != "?" {
            let items = dom.split(separator: ",").map { item -> String in
                let upper = item.uppercased()
                if upper == "L" { return "on the last day of the month" }
                if upper == "LW" { return "on the last weekday of the month" }
                if upper.hasPrefix("L-") { return "\(upper.dropFirst(2)) days before the last day of the month" }
                if upper.hasSuffix("W") { return "on the weekday nearest day \(upper.dropLast()) of the month" }
                return "on day " + itemsPhrase(String(item), field: .dayOfMonth) { String($0) } + " of the month"
            }
            phrases.append(list(items))
        }
        if dow != "*" && dow != "?" {
            let items = dow.split(separator: ",").map { item -> String in
                let upper = item.uppercased()
                if let hash = upper.firstIndex(of: "#"), let n = Int(upper[upper.index(after: hash)...]),
                    let w = weekday(upper[..<hash])
                {
                    return "on the \(ordinals[min(n, 5)]) \(weekdayNames[w]) of the month"
                }
                if upper.hasSuffix("L"), let w = weekday(upper.dropLast()) {
                    return "on the last \(weekdayNames[w]) of the month"
                }
                return itemsPhrase(String(item), field: .dayOfWeek) { weekdayNames[$0 % 7] }
            }
            phrases.append(list(items))
        }
        return phrases.joined(separator: e.daysMatchEither ? ", or " : ", and ")
    }

    private static func weekday(_ text: Substring) -> Int? {
        if let n = Int(text), (0...7).contains(n) { return n % 7 }
        return CronField.dayOfWeek.names[String(text)]
    }

    private static func unitPhrase(_ text: String, unit: String, field: CronField) -> String {
        if text.hasPrefix("*/"), let n = Int(text.dropFirst(2)) {
            return n == 1 ? "every \(unit)" : "every \(n) \(unit)s"
        }
        return "at \(unit) " + itemsPhrase(text, field: field) { String($0) }
    }

    private static func hourPhrase(_ text: String) -> String {
        if text.hasPrefix("*/"), let n = Int(text.dropFirst(2)) {
            return n == 1 ? "every hour" : "every \(n) hours"
        }
        let parts = text.split(separator: "-")
        if parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) {
            return "between \(clock(a, 0, 0)) and \(clock(b, 59, 0))"
        }
        return "past hour " + itemsPhrase(text, field: .hour) { String($0) }
    }

    /// "1 through 5", "every 2 from 1 through 10", "1, 3 and 5", with names where a field has them.
    private static func itemsPhrase(_ text: String, field: CronField, name: (Int) -> String) -> String {
        func value(_ s: Substring) -> String {
            if let n = Int(s) { return name(n) }
            if let n = field.names[s.uppercased()] { return name(n) }
            return String(s)
        }
        let items = text.split(separator: ",").map { item -> String in
            let pieces = item.split(separator: "/", maxSplits: 1)
            let base = pieces[0]
            var phrase: String
            let bounds = base.split(separator: "-")
            if base == "*" || base == "?" {
                phrase = ""
            } else if bounds.count == 2 {
                phrase = "\(value(bounds[0])) through \(value(bounds[1]))"
            } else {
                phrase = value(base)
            }
            if pieces.count == 2 {
                let every = "every \(pieces[1])\(field == .dayOfWeek || field == .month ? "" : "")"
                phrase = phrase.isEmpty ? every : "\(every) from \(phrase)"
            }
            return phrase
        }
        return list(items)
    }

    private static func isList(_ text: String) -> Bool {
        text.split(separator: ",").count > 1 && text.split(separator: ",").allSatisfy { Int($0) != nil }
    }

    private static func clock(_ h: Int, _ m: Int, _ s: Int) -> String {
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return s == 0 ? "\(two(h)):\(two(m))" : "\(two(h)):\(two(m)):\(two(s))"
    }

    private static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    private static func capitalized(_ s: String) -> String {
        guard let first = s.first else { return s }
        return first.uppercased() + s.dropFirst()
    }
}
