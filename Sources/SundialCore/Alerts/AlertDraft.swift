import Foundation

/// An alert to raise for one channel, before the store gives it an id.
public struct AlertDraft: Sendable, Equatable {
    public var event: AlertEvent
    /// What it is about (`task:<id>`, `executor:<id>`, `action:<name>`): deduplication is by
    /// event, subject and channel.
    public var subject: String
    public var channel: String
    public var taskID: Int64?
    public var taskName: String?
    /// The run it is about, if any.
    public var run: RunKey?
    /// One readable sentence.
    public var summary: String
    /// The error or the reason behind it.
    public var detail: String?
    /// The executor that raises it.
    public var raisedBy: String
    /// A second alert of the same event, subject and channel within this window is dropped.
    public var dedupeWindow: Duration

    public init(
        event: AlertEvent, subject: String, channel: String, taskID: Int64? = nil, taskName: String? = nil,
        run: RunKey? = nil, summary: String, detail: String? = nil, raisedBy: String, dedupeWindow: Duration
    ) {
        (self.event, self.subject, self.channel, self.taskID, self.taskName) = (
            event, subject, channel, taskID, taskName
        )
        (self.run, self.summary, self.detail, self.raisedBy, self.dedupeWindow) = (
            run, summary, detail, raisedBy, dedupeWindow
        )
    }

    /// The subject of a task's events.
    public static func subject(task id: Int64) -> String { "task:\(id)" }
}
