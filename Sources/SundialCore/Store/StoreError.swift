/// Why a store call failed, in terms the executor and the console act on. Stores translate
/// their driver's errors into these; messages never carry passwords or row values.
public struct StoreError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable, CaseIterable {
        /// A deadlock, a lock held elsewhere past the wait: nothing was written; try again.
        case conflict
        /// The store could not be reached, and the call certainly did nothing.
        case unavailable
        /// The connection died before the answer: the write may or may not have happened. Calls
        /// say how to find out or how to repeat them safely.
        case outcomeUnknown
        /// The store refused a value (too long, out of range): repeating it fails the same way.
        case rejected
        /// What the call names does not exist.
        case notFound
        /// The call would break a rule (a name already taken, a task not in the right state).
        case invalid
        /// A read-only node answered a write.
        case readOnly
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Trying again later may succeed.
    public var isTransient: Bool {
        switch kind {
        case .conflict, .unavailable, .outcomeUnknown, .readOnly: true
        case .rejected, .notFound, .invalid: false
        }
    }
}

extension StoreError.Kind {
    /// The kind as a metric label: `conflict`, `outcome_unknown`, `read_only`, …
    public var label: String {
        switch self {
        case .conflict: "conflict"
        case .unavailable: "unavailable"
        case .outcomeUnknown: "outcome_unknown"
        case .rejected: "rejected"
        case .notFound: "not_found"
        case .invalid: "invalid"
        case .readOnly: "read_only"
        }
    }
}
