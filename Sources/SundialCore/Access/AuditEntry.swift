import Foundation

/// One line of the audit log: who did what, to what, when, from where. Written by the console,
/// the API and the command line; never changed afterwards.
public struct AuditEntry: Sendable, Equatable {
    public var id: Int64
    public var at: Date
    public var draft: AuditDraft

    public init(id: Int64, at: Date, draft: AuditDraft) {
        (self.id, self.at, self.draft) = (id, at, draft)
    }
}

/// An audit line to write.
public struct AuditDraft: Sendable, Equatable {
    /// A user's name, `token:<id>` for an API token, `cli` for the command line.
    public var actor: String
    /// What was done (`login`, `login_failed`, `task.pause`, `token.create`, …).
    public var action: AuditAction
    /// What it was done to: a task or user name, a token id; for a failed login, the name tried.
    public var subject: String?
    /// Anything else worth knowing, such as the fields that changed.
    public var detail: String?
    /// The client's address, when it came over HTTP.
    public var address: String?

    public init(
        actor: String, action: AuditAction, subject: String? = nil, detail: String? = nil, address: String? = nil
    ) {
        (self.actor, self.action, self.subject, self.detail, self.address) = (actor, action, subject, detail, address)
    }
}

/// What an audit line records.
public enum AuditAction: String, Sendable, CaseIterable, Codable {
    case login, loginFailed = "login_failed", logout
    case taskCreate = "task.create", taskUpdate = "task.update", taskDelete = "task.delete"
    case taskPause = "task.pause", taskResume = "task.resume", taskRunNow = "task.run_now", taskKill = "task.kill"
    case userCreate = "user.create", userUpdate = "user.update", userPassword = "user.password"
    case tokenCreate = "token.create", tokenRevoke = "token.revoke", tokenUse = "token.use"
}

/// Which audit lines a listing shows.
public struct AuditFilter: Sendable, Equatable {
    public var actor: String?
    public var action: AuditAction?
    public var subject: String?

    public init(actor: String? = nil, action: AuditAction? = nil, subject: String? = nil) {
        (self.actor, self.action, self.subject) = (actor, action, subject)
    }
}
