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

    public init(
        token: ClaimToken, executor: String, actions: [String], tags: [String], limit: Int, lookahead: Duration
    ) {
        (self.token, self.executor, self.actions, self.tags) = (token, executor, actions, tags)
        (self.limit, self.lookahead) = (limit, lookahead)
    }
}

/// The rows one claim took, all carrying its token.
public struct ClaimedBatch: Sendable {
    public var token: ClaimToken
    public var rows: [TaskRow]

    public init(token: ClaimToken, rows: [TaskRow]) {
        self.token = token
        self.rows = rows
    }

    public var claims: [Claim] { rows.map { Claim(taskID: $0.id, token: token) } }
}
