import Foundation

/// How a task listing is sorted. Every order ends on the name, so that a page's last row is a
/// cursor to the next page (keyset paging, fast at any depth).
public enum TaskOrder: String, Sendable, CaseIterable {
    /// By name.
    case name
    /// Soonest fire first; tasks with no pending fire (done, invalid, not scheduled yet) last.
    case nextRun = "next_run"
    /// Failing tasks first (their last fire's last attempt failed), then the rest; by name within.
    case lastResult = "last_result"

    /// Whether `a` comes before `b` (what stores compute in their own query language).
    public func precedes(_ a: TaskRow, _ b: TaskRow) -> Bool {
        TaskCursor(after: a, order: self) < TaskCursor(after: b, order: self)
    }
}

/// Where a page of tasks in a given order ends: the next page starts after it. Its `token` is
/// what links and the API carry (for the name order, the name itself).
public struct TaskCursor: Sendable, Equatable, Comparable {
    public var order: TaskOrder
    public var name: String
    /// For `nextRun`: the row's pending fire (nil sorts last).
    public var nextRun: Date?
    /// For `lastResult`: the row was failing (sorts first).
    public var failing: Bool

    public init(after row: TaskRow, order: TaskOrder) {
        self.order = order
        self.name = row.name
        self.nextRun = order == .nextRun ? row.nextRun : nil
        self.failing = order == .lastResult ? row.failing : false
    }

    /// Reads a cursor written by `token` for the same order; nil when it is not one.
    public init?(token: String, order: TaskOrder) {
        self.order = order
        (nextRun, failing) = (nil, false)
        switch order {
        case .name:
            name = token
        case .nextRun:
            guard let colon = token.firstIndex(of: ":") else { return nil }
            let key = token[..<colon]
            name = String(token[token.index(after: colon)...])
            if key != "-" {
                guard let micros = Int64(key) else { return nil }
                nextRun = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
            }
        case .lastResult:
            guard token.hasPrefix("0:") || token.hasPrefix("1:") else { return nil }
            failing = token.hasPrefix("1:")
            name = String(token.dropFirst(2))
        }
    }

    /// The cursor as text, for links and the API.
    public var token: String {
        switch order {
        case .name: name
        case .nextRun: (nextRun.map { "\(Self.micros($0))" } ?? "-") + ":" + name
        case .lastResult: (failing ? "1:" : "0:") + name
        }
    }

    /// Whole microseconds, as `DATETIME(6)` keeps a time.
    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    /// The listing order: a row after the cursor comes later in it.
    public static func < (a: TaskCursor, b: TaskCursor) -> Bool {
        switch a.order {
        case .name:
            return a.name < b.name
        case .nextRun:
            switch (a.nextRun.map(micros), b.nextRun.map(micros)) {
            case (let x?, let y?) where x != y: return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            default: return a.name < b.name
            }
        case .lastResult:
            return a.failing != b.failing ? a.failing : a.name < b.name
        }
    }
}
