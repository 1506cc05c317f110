import Foundation

/// A value bound to a statement parameter or read from a result column.
///
/// Dates are instants: they travel as `DATETIME(6)` in UTC (every session runs with
/// `time_zone='+00:00'`), to the microsecond.
public enum MySQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case bytes([UInt8])
    case bool(Bool)
    case date(Date)

    public init(_ value: Int) { self = .int(Int64(value)) }
    public init(_ value: Date) { self = .date(value) }
    public init(_ value: String?) { self = value.map { .string($0) } ?? .null }
    public init(_ value: Int?) { self = value.map { .int(Int64($0)) } ?? .null }
    public init(_ value: Date?) { self = value.map { .date($0) } ?? .null }
    public init(_ value: Double?) { self = value.map { .double($0) } ?? .null }

    public var isNull: Bool { self == .null }

    /// The value as an integer, if it is one (or a whole-number string such as a DECIMAL).
    public var int: Int? {
        switch self {
        case .int(let v): return Int(exactly: v)
        case .uint(let v): return Int(exactly: v)
        case .bool(let v): return v ? 1 : 0
        case .double(let v): return Int(exactly: v)
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    public var double: Double? {
        switch self {
        case .double(let v): return v
        case .int(let v): return Double(v)
        case .uint(let v): return Double(v)
        case .string(let s): return Double(s)
        default: return nil
        }
    }

    public var string: String? {
        switch self {
        case .string(let s): return s
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .int(let v): return String(v)
        case .uint(let v): return String(v)
        case .double(let v): return String(v)
        case .bool(let v): return v ? "1" : "0"
        case .date, .null: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bytes(let b): return b
        case .string(let s): return Array(s.utf8)
        default: return nil
        }
    }

    /// TINYINT(1) and friends: any non-zero integer is true.
    public var bool: Bool? {
        switch self {
        case .bool(let v): return v
        case .int(let v): return v != 0
        case .uint(let v): return v != 0
        default: return nil
        }
    }

    public var date: Date? {
        if case .date(let d) = self { return d }
        return nil
    }
}

extension MySQLValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral
{
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
}
