import Foundation

/// What an executor asks for when it claims.
public struct ClaimRequest: Sendable, Equatable {
    /// Chosen by the caller before the claim, so that it can release the rows even when the
    /// claim's outcome is unknown (the connection died before the answer).
    public var token: ClaimToken
    /// The claiming executor's id, stored in `claimed_by`.
    public var executor: String
    /// Actions this executor can run: rows with other actions are left for executors that can.
    public var actions: [String]
    /// This executor's tags: a row with tags is claimed only by an executor with one of them.
    public var tags: [String]
    /// Most rows to take.
    public var limit: Int
    /// Rows due within this much of the database's clock are due now.
    public var lookahead: Duration
    /// Whether to look for rows inserted with neither schedule nor `next_run` (run once, now).
    /// A claim repeated at once (the last one was full) may skip that look: it costs a statement,
    /// and such rows are found by the next claim that looks.
    public var includeUnscheduled: Bool

    public init(
        token: ClaimToken, executor: String, actions: [String], tags: [String], limit: Int, lookahead: Duration,
        includeUnscheduled: Bool = true
    ) {
        (self.token, self.executor, self.actions, self.tags) = (token, executor, actions, tags)
        (self.limit, self.lookahead, self.includeUnscheduled) = (limit, lookahead, includeUnscheduled)
    }
}

/// The rows one claim took, all carrying its token.
public struct ClaimedBatch: Sendable {
    public var token: ClaimToken
    public var rows: [TaskRow]
    /// The store's clock during the claim (read with the rows, so that no call of its own is
    /// needed); nil when nothing was claimed.
    public var now: Date?
    /// How many of the rows were inserted without `next_run` (one-shots): the claim gave them
    /// their fire time, the claim's own clock reading, now on record as `next_run` and `fire_at`.
    public var unscheduled: Int

    public init(token: ClaimToken, rows: [TaskRow], now: Date? = nil, unscheduled: Int = 0) {
        self.token = token
        self.rows = rows
        self.now = now
        self.unscheduled = unscheduled
    }

    public var claims: [Claim] { rows.map { Claim(taskID: $0.id, token: token) } }
}
