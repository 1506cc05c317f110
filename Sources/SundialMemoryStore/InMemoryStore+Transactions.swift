import Foundation
import SundialCore

/// Row locks of transactions left open by clients cut off in their middle, as MySQL keeps them.
///
/// A cut-off transaction's changes are never seen by others (READ COMMITTED): it holds its row
/// locks until the server ends the idle transaction (`idleTransactionTimeout`) and rolls it back.
/// Meanwhile claims pass its rows by (`SKIP LOCKED`), and any other write to them waits out its
/// lock wait and fails as MySQL's `Lock wait timeout exceeded` does (the in-memory store cannot
/// let time pass inside a call, so it takes the failure, the harsher of the two outcomes).
extension InMemoryStore {
    /// A row an open transaction has locked.
    enum LockedItem: Hashable {
        case task(Int64)
        case run(RunKey)
        case executor(String)
        case alert(Int64)
    }

    /// A transaction whose client was cut off: its locks, until the server rolls it back.
    struct OpenTransaction {
        var operation: StoreOperation
        var locks: Set<LockedItem>
        /// When the server ends it (nil: never, as a server without an idle-transaction bound
        /// keeps it until `wait_timeout`, hours later).
        var endsAt: Date?
    }
}

extension InMemoryStore.State {
    /// Rows some open transaction holds.
    var lockedItems: Set<InMemoryStore.LockedItem> {
        openTransactions.reduce(into: []) { $0.formUnion($1.locks) }
    }

    /// Whether an open transaction holds the task's row (a claim passes it by).
    func isLocked(task id: Int64) -> Bool {
        openTransactions.contains { $0.locks.contains(.task(id)) }
    }

    func isLocked(alert id: Int64) -> Bool {
        openTransactions.contains { $0.locks.contains(.alert(id)) }
    }

    /// The server rolls back transactions idle past their bound: their locks go, and nothing
    /// they did was ever applied.
    mutating func endIdleTransactions(_ now: Date) {
        openTransactions.removeAll { $0.endsAt.map { $0 <= now } ?? false }
    }

    /// Rows that differ from `before`: the rows a statement run since then wrote or inserted,
    /// and so locked.
    func changedItems(since before: Self) -> Set<InMemoryStore.LockedItem> {
        var changed: Set<InMemoryStore.LockedItem> = []
        func compare<Key, Value: Equatable>(
            _ now: [Key: Value], _ then: [Key: Value], _ item: (Key) -> InMemoryStore.LockedItem
        ) {
            for (key, value) in now where then[key] != value { changed.insert(item(key)) }
            for key in then.keys where now[key] == nil { changed.insert(item(key)) }
        }
        compare(tasks, before.tasks, InMemoryStore.LockedItem.task)
        compare(runs, before.runs, InMemoryStore.LockedItem.run)
        compare(executors, before.executors, InMemoryStore.LockedItem.executor)
        compare(alerts, before.alerts, InMemoryStore.LockedItem.alert)
        return changed
    }
}
