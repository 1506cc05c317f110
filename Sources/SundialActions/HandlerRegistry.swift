import Foundation

/// Task handlers by action name. The built-ins are `shell`, `http`, `noop`, `sleep`, `fail` and
/// `witness`; teams embedding the executor add their own.
public struct HandlerRegistry: Sendable {
    private var handlers: [String: any TaskHandler]

    /// The built-in handlers. `liveness` is shared with the executor's heartbeat, which keeps the
    /// shell supervisors informed that it is alive.
    public init(liveness: ShellLiveness, shell: ShellHandler.Configuration = .init()) {
        handlers = [
            "shell": ShellHandler(configuration: shell, liveness: liveness),
            "http": HTTPHandler(),
            "noop": NoopHandler(),
            "sleep": SleepHandler(),
            "fail": FailHandler(),
            "witness": WitnessHandler(),
        ]
    }

    /// Adds or replaces the handler for `action`.
    public mutating func register(_ action: String, _ handler: any TaskHandler) {
        handlers[action] = handler
    }

    public func handler(for action: String) -> (any TaskHandler)? { handlers[action] }

    public var actions: [String] { handlers.keys.sorted() }
}
