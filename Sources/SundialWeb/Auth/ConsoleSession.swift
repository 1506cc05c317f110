/// What a session cookie stands for, stored in `console_session` as JSON.
public struct ConsoleSession: Codable, Sendable, Equatable {
    /// The signed-in user, nil before login (the session then only holds the login form's CSRF
    /// secret).
    public var userID: Int64?
    /// The user's session epoch at login: a password change or a disable ends older sessions.
    public var epoch: Int
    /// The secret CSRF tokens are made from (base64url, 32 bytes).
    public var csrfSecret: String
    /// The password was right, the one-time code is still to come.
    public var awaitingSecondFactor: Bool
    /// A second factor's key being set up: shown once, kept here (not in the page's form) until a
    /// code from the app proves it was added.
    public var pendingSecondFactor: String?

    public init(userID: Int64? = nil, epoch: Int = 0, csrfSecret: String, awaitingSecondFactor: Bool = false) {
        (self.userID, self.epoch, self.csrfSecret) = (userID, epoch, csrfSecret)
        self.awaitingSecondFactor = awaitingSecondFactor
    }

    public static func anonymous() -> ConsoleSession {
        ConsoleSession(csrfSecret: Secrets.base64URL(Secrets.randomBytes(32)))
    }
}
