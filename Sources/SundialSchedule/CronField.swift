/// The seven positions of a cron expression, with their ranges and names.
public enum CronField: String, Sendable, CaseIterable {
    case second
    case minute
    case hour
    case dayOfMonth = "day-of-month"
    case month
    case dayOfWeek = "day-of-week"
    case year

    var range: ClosedRange<Int> {
        switch self {
        case .second, .minute: return 0...59
        case .hour: return 0...23
        case .dayOfMonth: return 1...31
        case .month: return 1...12
        case .dayOfWeek: return 0...7
        case .year: return CronExpression.years
        }
    }

    /// Names accepted in place of numbers, in any case.
    var names: [String: Int] {
        switch self {
        case .month:
            return [
                "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
                "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
            ]
        case .dayOfWeek:
            return ["SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6]
        default:
            return [:]
        }
    }
}

/// A set of small non-negative integers as bits; every cron field fits in 64 bits but the year.
struct BitSet64: Hashable, Sendable {
    var bits: UInt64 = 0

    static func all(_ range: ClosedRange<Int>) -> BitSet64 {
        var set = BitSet64()
        for v in range { set.insert(v) }
        return set
    }

    mutating func insert(_ v: Int) { bits |= 1 << UInt64(v) }
    func contains(_ v: Int) -> Bool { v >= 0 && v < 64 && bits & (1 << UInt64(v)) != 0 }
    var isEmpty: Bool { bits == 0 }
    var count: Int { bits.nonzeroBitCount }
    var values: [Int] { (0..<64).filter { contains($0) } }

    /// The smallest member that is at least `v`.
    func next(atLeast v: Int) -> Int? {
        guard v < 64 else { return nil }
        let masked = bits & (UInt64.max << UInt64(max(v, 0)))
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }

    /// The largest member that is at most `v`.
    func previous(atMost v: Int) -> Int? {
        guard v >= 0 else { return nil }
        let masked = v >= 63 ? bits : bits & ((1 << UInt64(v + 1)) - 1)
        return masked == 0 ? nil : 63 - masked.leadingZeroBitCount
    }
}
