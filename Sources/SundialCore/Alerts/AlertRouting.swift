import Foundation

/// Which channels an event goes to, and the drafts to raise: pure, so that the runtime and the
/// simulator decide the same way.
///
/// A task's events go to the default channels and to those its `alerts` column names; fleet
/// events go to the default channels. Each channel takes the events it lists (all by default).
/// A name no channel has is skipped.
public struct AlertRouting: Sendable, Equatable {
    /// Each channel's name and the events it takes.
    public var channels: [String: Set<AlertEvent>]
    /// Channels every task's events and every fleet event go to.
    public var defaults: [String]
    /// A fire not started this long after its time is `missed` (a task's `alert_late_seconds`
    /// overrides it).
    public var lateAfter: Duration
    /// A second alert of the same event, subject and channel within this window is dropped.
    public var dedupeWindow: Duration

    public init(
        channels: [String: Set<AlertEvent>] = [:], defaults: [String] = [], lateAfter: Duration = .seconds(60),
        dedupeWindow: Duration = .seconds(600)
    ) {
        (self.channels, self.defaults, self.lateAfter, self.dedupeWindow) = (
            channels, defaults, lateAfter, dedupeWindow
        )
    }

    /// No channel at all: nothing is raised, and nothing needs to look for missed fires.
    public var isEmpty: Bool { channels.isEmpty }

    /// The channels `event` goes to, for `task` (nil: a fleet event), each once, in order.
    public func channels(for event: AlertEvent, task: TaskRow?) -> [String] {
        var seen = Set<String>()
        return (defaults + CommaList.items(task?.alerts)).filter { name in
            guard let takes = channels[name], takes.contains(event), !seen.contains(name) else { return false }
            seen.insert(name)
            return true
        }
    }

    /// How late a fire of `task` may start before it is `missed`.
    public func lateAfter(for task: TaskRow) -> Duration {
        guard let seconds = task.alertLateSeconds, seconds.isFinite, seconds >= 0 else { return lateAfter }
        // Any value a column holds: ten years stands for "never" without overflowing a Duration.
        return .seconds(min(seconds, 10 * 365 * 86_400))
    }

    /// One draft per channel for an event about a task.
    public func drafts(
        _ event: AlertEvent, task: TaskRow, run: RunKey? = nil, summary: String, detail: String? = nil,
        raisedBy: String
    ) -> [AlertDraft] {
        channels(for: event, task: task).map {
            AlertDraft(
                event: event, subject: AlertDraft.subject(task: task.id), channel: $0, taskID: task.id,
                taskName: task.name, run: run, summary: summary, detail: detail, raisedBy: raisedBy,
                dedupeWindow: dedupeWindow)
        }
    }

    /// One draft per default channel for an event about the fleet.
    public func fleetDrafts(
        _ event: AlertEvent, subject: String, summary: String, detail: String? = nil, raisedBy: String
    ) -> [AlertDraft] {
        channels(for: event, task: nil).map {
            AlertDraft(
                event: event, subject: subject, channel: $0, summary: summary, detail: detail, raisedBy: raisedBy,
                dedupeWindow: dedupeWindow)
        }
    }

    /// The drafts for what one finished attempt means (`FinishedRun.events`).
    public func drafts(for finished: FinishedRun, task: TaskRow) -> [AlertDraft] {
        let run = finished.run
        let attempt = "attempt \(run.attempt + 1) of \(max(task.maxAttempts, run.attempt + 1))"
        return finished.events.flatMap { event -> [AlertDraft] in
            let summary: String
            switch event {
            case .failed:
                summary = "\(task.name) failed (\(attempt), \(run.status.rawValue)); it moves on to its next fire"
            case .dead: summary = "\(task.name) failed (\(attempt), \(run.status.rawValue)) and is dead until resumed"
            case .timedOut: summary = "\(task.name) timed out (\(attempt)) and was killed"
            case .recovered: summary = "\(task.name) succeeded again"
            default: return []
            }
            return drafts(event, task: task, run: run.key, summary: summary, detail: run.error, raisedBy: run.executor)
        }
    }
}
