/// The fencing token of one claim, stored in `cron.task_id` while the row is claimed.
///
/// Unique to one claim statement: every write that follows the claim (the run's result, a
/// release, marking the row invalid) is conditioned on the row still carrying it, so a late or
/// repeated write can never touch a row that was freed, reclaimed or deleted in between.
public struct ClaimToken: Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int64

    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// A fresh token: 63 random bits, never 0.
    public static func random() -> ClaimToken {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> ClaimToken {
        ClaimToken(Int64.random(in: 1...Int64.max, using: &generator))
    }

    public var description: String { String(rawValue, radix: 16) }
}

/// One claimed task: its id and the token that fences every write about it.
public struct Claim: Hashable, Sendable {
    public var taskID: Int64
    public var token: ClaimToken

    public init(taskID: Int64, token: ClaimToken) {
        self.taskID = taskID
        self.token = token
    }
}
