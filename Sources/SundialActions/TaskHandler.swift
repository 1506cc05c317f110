import Foundation

/// Something a task can do, registered under an action name (`shell`, `http`, or your own).
///
/// Handlers run on the executor's pool threads and may block them.
public protocol TaskHandler: Sendable {
    /// Checks a task's payload before it runs. Throw a `TaskPayloadError` with a readable message
    /// for a payload that can never work: the row becomes `invalid` with that message.
    func validate(payload: Data) throws

    /// Validates a payload and returns what `run` needs from it, as `context.prepared`: decoded
    /// once per task definition instead of once per run. The default validates and returns nil.
    func prepare(payload: Data) throws -> (any Sendable)?

    /// Runs one attempt. Return normally for success; throw `RunFailure` (or any error) for
    /// failure. Long-running handlers should watch `context.isCancelled` or register
    /// `context.onCancel`, which fires on kill requests, timeouts and shutdown.
    func run(_ context: RunContext) throws -> RunOutput
}

extension TaskHandler {
    public func prepare(payload: Data) throws -> (any Sendable)? {
        try validate(payload: payload)
        return nil
    }
}

/// What a successful attempt reports.
public struct RunOutput: Sendable, Equatable {
    public var exitCode: Int?
    public var output: String?

    public init(exitCode: Int? = nil, output: String? = nil) {
        self.exitCode = exitCode
        self.output = output
    }
}

/// A failed attempt, with whatever it printed.
public struct RunFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var exitCode: Int?
    public var output: String?

    public init(_ message: String, exitCode: Int? = nil, output: String? = nil) {
        self.message = message
        self.exitCode = exitCode
        self.output = output
    }

    public var description: String { message }
}

/// A payload a handler can't use.
public struct TaskPayloadError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Decodes a JSON payload with readable errors ("payload: command is missing").
enum Payload {
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data.isEmpty ? Data("{}".utf8) : data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw TaskPayloadError("payload: \(key.stringValue) is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw TaskPayloadError("payload: \(path(context)) has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw TaskPayloadError("payload: \(path(context)) is null")
        } catch let DecodingError.dataCorrupted(context) {
            if context.codingPath.isEmpty { throw TaskPayloadError("payload is not valid JSON") }
            throw TaskPayloadError("payload: \(path(context)): \(context.debugDescription)")
        } catch let error as TaskPayloadError {
            throw error
        } catch {
            throw TaskPayloadError("payload: \(error)")
        }
    }

    private static func path(_ context: DecodingError.Context) -> String {
        context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}
