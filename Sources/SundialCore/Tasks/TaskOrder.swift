import Foundation

/// How a task listing is sorted. An order is a few groups read one after another, each sorted by
/// the name (after the next run, in the first group of `nextRun`), so that a page's last row is a
/// cursor to the next page (keyset paging, fast at any depth) and each group is one range of an
/// index.
public enum TaskOrder: String, Sendable, CaseIterable {
    /// By name.
    case name
    /// Active tasks by their next fire, soonest first; then active tasks with no fire yet, then
    /// paused, done, invalid and dead ones, each by name.
    case nextRun = "next_run"
    /// Failing tasks first (their last fire's last attempt failed), then the rest; by name within.
    case lastResult = "last_result"

    /// One group of an order: which rows, and whether they are sorted by next run first.
    public struct Group: Sendable, Equatable {
        /// The rows of one status only (nil: any).
        public var status: TaskStatus?
        /// Rows whose `next_run` is set (true), unset (false), or either (nil).
        public var scheduled: Bool?
        /// Failing rows (true), others (false), or either (nil).
        public var failing: Bool?
        /// Sorted by `next_run`, then the name; else by the name.
        public var byNextRun: Bool

        init(status: TaskStatus? = nil, scheduled: Bool? = nil, failing: Bool? = nil, byNextRun: Bool = false) {
            (self.status, self.scheduled, self.failing, self.byNextRun) = (status, scheduled, failing, byNextRun)
        }

        public func contains(_ row: TaskRow) -> Bool {
            (status.map { row.status == $0 } ?? true) && (scheduled.map { (row.nextRun != nil) == $0 } ?? true)
                && (failing.map { row.failing == $0 } ?? true)
        }
    }

    /// The groups, in listing order; every row is in exactly one.
    public var groups: [Group] {
        switch self {
        case .name: Self.nameGroups
        case .nextRun: Self.nextRunGroups
        case .lastResult: Self.lastResultGroups
        }
    }

    // Made once: sorting compares rows by their groups many times over.
    private static let nameGroups = [Group()]
    private static let nextRunGroups = [
        Group(status: .active, scheduled: true, byNextRun: true), Group(status: .active, scheduled: false),
        Group(status: .paused), Group(status: .done), Group(status: .invalid), Group(status: .dead),
    ]
    private static let lastResultGroups = [Group(failing: true), Group(failing: false)]

    /// The group `row` is in.
    public func group(of row: TaskRow) -> Int {
        groups.firstIndex { $0.contains(row) } ?? groups.count - 1
    }

    /// Whether `a` comes before `b` (what stores compute in their own query language).
    public func precedes(_ a: TaskRow, _ b: TaskRow) -> Bool {
        TaskCursor(after: a, order: self) < TaskCursor(after: b, order: self)
    }
}

/// Where a page of tasks in a given order ends: the next page starts after it. Its `token` is
/// what links and the API carry: the name alone for the name order, else
/// `<group>:<next run in microseconds, or ->:<name>`.
public struct TaskCursor: Sendable, Equatable, Comparable {
    public var order: TaskOrder
    public var group: Int
    /// The row's pending fire, in a group sorted by it.
    public var nextRun: Date?
    public var name: String

    /// Microseconds of the years 1000 to 9999, what `DATETIME(6)` holds.
    static let storable: ClosedRange<Int64> = -30_610_224_000_000_000...253_402_300_799_999_999

    public init(after row: TaskRow, order: TaskOrder) {
        self.order = order
        self.group = order.group(of: row)
        self.nextRun = order.groups[group].byNextRun ? row.nextRun : nil
        self.name = row.name
    }

    /// Reads a cursor written by `token` for the same order; nil when it is not one.
    public init?(token: String, order: TaskOrder) {
        self.order = order
        guard order != .name else {
            (group, nextRun, name) = (0, nil, token)
            return
        }
        let parts = token.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let group = Int(parts[0]), order.groups.indices.contains(group) else { return nil }
        self.group = group
        self.name = String(parts[2])
        switch (order.groups[group].byNextRun, parts[1]) {
        case (false, "-"): nextRun = nil
        case (true, let key):
            guard let micros = Int64(key), Self.storable.contains(micros) else { return nil }
            nextRun = Date(timeIntervalSince1970: Double(micros) / 1_000_000)
        default: return nil
        }
    }

    /// The cursor as text, for links and the API.
    public var token: String {
        order == .name ? name : "\(group):" + (nextRun.map { "\(Self.micros($0))" } ?? "-") + ":" + name
    }

    /// Whole microseconds, as `DATETIME(6)` keeps a time.
    static func micros(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1_000_000).rounded()
        return Int64(exactly: value) ?? (value < 0 ? storable.lowerBound : storable.upperBound)
    }

    /// The listing order: a row after the cursor comes later in it.
    public static func < (a: TaskCursor, b: TaskCursor) -> Bool {
        if a.group != b.group { return a.group < b.group }
        switch (a.nextRun.map(micros), b.nextRun.map(micros)) {
        case (let x?, let y?) where x != y: return x < y
        default: return a.name < b.name
        }
    }
}
