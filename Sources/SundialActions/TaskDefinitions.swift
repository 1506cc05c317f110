import Foundation
import SundialCore
import SundialSchedule
import Synchronization

/// A task row checked and ready to run: its schedule parsed, its handler found, its payload
/// accepted by that handler.
public struct TaskDefinition: Sendable {
    public var schedule: Schedule?
    public var handler: any TaskHandler
    public var payload: Data
    /// What the handler's `prepare(payload:)` made of the payload.
    public var prepared: (any Sendable)?
}

/// Why a row can't run, in words for the row's `error` column.
public struct InvalidTask: Error, Sendable, Equatable {
    public var message: String
    /// No handler for the row's action here: another executor (or a later deploy) may have one,
    /// so the row waits instead of becoming invalid.
    public var isUnknownAction = false

    public init(message: String, isUnknownAction: Bool = false) {
        self.message = message
        self.isUnknownAction = isUnknownAction
    }
}

/// Turns rows into definitions with the executor's handlers.
///
/// A definition depends only on the row's action, schedule, time zone and payload, so it is
/// remembered by those: a task claimed every second is parsed and validated once, not every
/// second (parsing was most of an executor's CPU time at 2,000 fires a second).
public struct TaskDefinitions: Sendable {
    public let handlers: HandlerRegistry
    private let cache = DefinitionCache()

    public init(handlers: HandlerRegistry) {
        self.handlers = handlers
    }

    public func definition(for row: TaskRow) -> Result<TaskDefinition, InvalidTask> {
        let key = DefinitionCache.Key(
            action: row.action, schedule: row.schedule, timezone: row.timezone, payload: row.payload)
        if let known = cache[key] { return known }
        let made = makeDefinition(for: row)
        cache[key] = made
        return made
    }

    /// The row's schedule (nil: run once), checked without its action: a row can be scheduled
    /// by an executor that does not run it.
    public func schedule(for row: TaskRow) -> Result<Schedule?, InvalidTask> {
        guard let text = row.schedule, !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            guard Schedule.isKnownTimeZone(row.timezone) else {
                return .failure(InvalidTask(message: "unknown time zone '\(row.timezone)'"))
            }
            return .success(nil)
        }
        let schedule: Schedule
        do {
            schedule = try Schedule(text, timeZone: row.timezone)
        } catch {
            return .failure(InvalidTask(message: "schedule: \(error.description)"))
        }
        if case .once(let at) = schedule.kind, !StorableTime.contains(at) {
            return .failure(InvalidTask(message: "schedule: the time is outside the years 1000 to 9999"))
        }
        return .success(schedule)
    }

    private func makeDefinition(for row: TaskRow) -> Result<TaskDefinition, InvalidTask> {
        let schedule: Schedule?
        switch self.schedule(for: row) {
        case .failure(let invalid): return .failure(invalid)
        case .success(let found): schedule = found
        }
        guard let handler = handlers.handler(for: row.action) else {
            return .failure(
                InvalidTask(
                    message:
                        "no handler for action \(row.action.isEmpty ? "''" : "'\(row.action)'") here (known: \(handlers.actions.joined(separator: ", ")))",
                    isUnknownAction: true))
        }
        let payload = Data((row.payload ?? "{}").utf8)
        if let text = row.payload, !text.isEmpty {
            guard (try? JSONSerialization.jsonObject(with: payload)) is [String: Any] else {
                return .failure(InvalidTask(message: "payload is not a JSON object"))
            }
        }
        do {
            let prepared = try handler.prepare(payload: payload)
            return .success(TaskDefinition(schedule: schedule, handler: handler, payload: payload, prepared: prepared))
        } catch {
            return .failure(InvalidTask(message: "\(error)"))
        }
    }
}

/// Definitions by the columns they are made of, bounded.
final class DefinitionCache: Sendable {
    struct Key: Hashable {
        var action: String
        var schedule: String?
        var timezone: String
        var payload: String?
    }

    /// Forgotten all at once beyond this many: cheap, and rows differ rarely enough.
    static let capacity = 20_000
    private let entries = Mutex<[Key: Result<TaskDefinition, InvalidTask>]>([:])

    subscript(key: Key) -> Result<TaskDefinition, InvalidTask>? {
        get { entries.withLock { $0[key] } }
        set {
            entries.withLock {
                if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
                $0[key] = newValue
            }
        }
    }
}
