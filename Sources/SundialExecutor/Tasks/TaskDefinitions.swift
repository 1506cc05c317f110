import Foundation
import SundialSchedule

/// A task row checked and ready to run: its schedule parsed, its handler found, its payload
/// accepted by that handler.
public struct TaskDefinition: Sendable {
    public var schedule: Schedule?
    public var handler: any TaskHandler
    public var payload: Data
}

/// Why a row can't run, in words for the row's `error` column.
public struct InvalidTask: Error, Sendable, Equatable {
    public var message: String
}

/// Turns rows into definitions with the executor's handlers.
public struct TaskDefinitions: Sendable {
    public let handlers: HandlerRegistry

    public init(handlers: HandlerRegistry) {
        self.handlers = handlers
    }

    public func definition(for row: TaskRow) -> Result<TaskDefinition, InvalidTask> {
        guard let handler = handlers.handler(for: row.action) else {
            return .failure(
                InvalidTask(
                    message:
                        "unknown action \(row.action.isEmpty ? "''" : "'\(row.action)'") (known: \(handlers.actions.joined(separator: ", ")))"
                ))
        }
        var schedule: Schedule? = nil
        if let text = row.schedule, !text.trimmingCharacters(in: .whitespaces).isEmpty {
            do {
                schedule = try Schedule(text, timeZone: row.timezone)
            } catch {
                return .failure(InvalidTask(message: "schedule: \(error.description)"))
            }
        } else if !Schedule.isKnownTimeZone(row.timezone) {
            return .failure(InvalidTask(message: "unknown time zone '\(row.timezone)'"))
        }
        let payload = Data((row.payload ?? "{}").utf8)
        if let text = row.payload, !text.isEmpty {
            guard (try? JSONSerialization.jsonObject(with: payload)) is [String: Any] else {
                return .failure(InvalidTask(message: "payload is not a JSON object"))
            }
        }
        do {
            try handler.validate(payload: payload)
        } catch {
            return .failure(InvalidTask(message: "\(error)"))
        }
        return .success(TaskDefinition(schedule: schedule, handler: handler, payload: payload))
    }
}
