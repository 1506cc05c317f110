import Foundation

/// `noop`: does nothing, successfully. For tests and benchmarks.
public struct NoopHandler: TaskHandler {
    public init() {}
    public func validate(payload: Data) throws {}
    public func run(_ context: RunContext) throws -> RunOutput { RunOutput() }
}

/// `sleep`: `{"seconds": 0.5}`. Wakes early when killed or timed out.
public struct SleepHandler: TaskHandler {
    struct Settings: Decodable { var seconds: Double }

    public init() {}

    public func validate(payload: Data) throws {
        let settings = try Payload.decode(Settings.self, from: payload)
        guard settings.seconds >= 0, settings.seconds.isFinite else {
            throw TaskPayloadError("payload: seconds must be zero or more")
        }
    }

    public func run(_ context: RunContext) throws -> RunOutput {
        let settings = try Payload.decode(Settings.self, from: context.payload)
        guard context.sleep(settings.seconds) else {
            throw RunFailure("stopped after less than \(settings.seconds) s")
        }
        return RunOutput(output: "slept \(settings.seconds) s")
    }
}

/// `fail`: `{"message": "..."}`: always fails with that message.
public struct FailHandler: TaskHandler {
    struct Settings: Decodable { var message: String? }

    public init() {}
    public func validate(payload: Data) throws { _ = try Payload.decode(Settings.self, from: payload) }

    public func run(_ context: RunContext) throws -> RunOutput {
        let settings = try Payload.decode(Settings.self, from: context.payload)
        throw RunFailure(settings.message ?? "failed on purpose", exitCode: 1)
    }
}
