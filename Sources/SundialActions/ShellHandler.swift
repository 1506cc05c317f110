import CSundialSystem
import Foundation
import SundialSupervisor

#if canImport(Glibc)
    import Glibc
#endif

/// `shell`: `{"command": "...", "env": {...}, "cwd": "...", "timeout": 30}`.
///
/// The command runs under `/bin/sh -c` in a process group of its own, watched by a
/// `ShellSupervisor` process: a timeout, a kill request, or the executor's death kills the whole
/// group (SIGTERM, then SIGKILL). Standard output and error are captured together, up to a bound,
/// keeping the head and the tail.
public struct ShellHandler: TaskHandler {
    public struct Configuration: Sendable {
        /// The supervisor command (`ShellSupervisor.defaultCommand`).
        public var supervisor: [String]
        public var shell = "/bin/sh"
        /// Bytes of output kept per run (head and tail).
        public var outputLimit = 64 * 1024
        /// Between SIGTERM and SIGKILL on a timeout or kill request. (When the executor is gone,
        /// silent or fenced off, the grace is shorter and set by its lease: see `LivenessPipes`.)
        public var killGrace: Double = 5
        /// How long output is still read once the command has ended: a process it left behind
        /// outside its group (`setsid cmd &`) may hold standard output open for ever.
        public var outputAfterEnd: Double = 0.5

        public init() {
            supervisor = ShellSupervisor.defaultCommand
        }
    }

    struct Settings: Decodable {
        var command: String
        var env: [String: String]?
        var cwd: String?
        var timeout: Double?
    }

    public let configuration: Configuration
    let liveness: LivenessPipes

    public init(configuration: Configuration = Configuration(), liveness: LivenessPipes) {
        self.configuration = configuration
        self.liveness = liveness
    }

    public func validate(payload: Data) throws {
        let settings = try Payload.decode(Settings.self, from: payload)
        guard !settings.command.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TaskPayloadError("payload: command is empty")
        }
        if let timeout = settings.timeout, !(timeout > 0) { throw TaskPayloadError("payload: timeout must be above 0") }
        if let cwd = settings.cwd, !cwd.hasPrefix("/") {
            throw TaskPayloadError("payload: cwd must be an absolute path")
        }
    }

    public func run(_ context: RunContext) throws -> RunOutput {
        let settings = try Payload.decode(Settings.self, from: context.payload)
        let timeout = settings.timeout ?? context.timeout ?? 0
        let output = try Pipe2()
        let alive = try Pipe2()
        let status = try Pipe2()
        defer {
            output.closeBoth()
            alive.closeBoth()
            status.closeBoth()
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, output.write, 2)
        posix_spawn_file_actions_adddup2(&actions, alive.read, 3)
        posix_spawn_file_actions_adddup2(&actions, status.write, 4)
        if let cwd = settings.cwd { sundial_spawn_add_chdir(&actions, cwd) }
        // Nothing else of the executor's (database sockets, other runs' pipes) reaches the job.
        sundial_spawn_add_closefrom(&actions, 5)

        let arguments =
            configuration.supervisor + [
                String(timeout), String(configuration.killGrace), String(liveness.fenceGrace),
                String(liveness.leaseLeft), "--",
                configuration.shell, "-c", settings.command,
            ]
        var environment = JobEnvironment.inherited(ProcessInfo.processInfo.environment)
        for (key, value) in settings.env ?? [:] { environment[key] = value }
        environment["SUNDIAL_TASK_ID"] = String(context.taskID)
        environment["SUNDIAL_TASK_NAME"] = context.taskName
        environment["SUNDIAL_ATTEMPT"] = String(context.attempt)
        var cArguments = arguments.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            throw RunFailure("cannot start the shell supervisor \(arguments[0]): \(String(cString: strerror(spawned)))")
        }
        output.closeWrite()
        alive.closeRead()
        status.closeWrite()

        let registration = liveness.register(alive.write)
        defer { liveness.unregister(registration) }
        // A stopping or fenced executor's commands go quickly: its lease may be running out.
        context.onCancel { reason in
            self.liveness.send(UInt8(ascii: reason == .executorStopping ? "F" : "K"), to: registration)
        }

        let captured = Self.capture(
            output: output.read, status: status.read, limit: configuration.outputLimit,
            afterEnd: configuration.outputAfterEnd)
        var reportBytes = [UInt8](repeating: 0, count: 128)
        // The supervisor has reported (or died): the report is there, or EOF.
        let reported = reportBytes.withUnsafeMutableBytes { read(status.read, $0.baseAddress, $0.count) }
        var supervisorStatus: Int32 = 0
        while waitpid(pid, &supervisorStatus, 0) == -1 && errno == EINTR {}

        let text = captured.text
        let line = String(decoding: reportBytes.prefix(max(0, reported)), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        switch Supervisor.Ending(line: line) {
        case .exited(0):
            return RunOutput(exitCode: 0, output: text)
        case .exited(let code):
            throw RunFailure("exit status \(code)", exitCode: Int(code), output: text)
        case .signalled(let signal):
            throw RunFailure("killed by signal \(signal)", exitCode: 128 + Int(signal), output: text)
        case .timedOut:
            throw RunTimedOut(output: text)
        case .killed:
            if context.cancelReason == .timedOut { throw RunTimedOut(output: text) }
            throw RunKilled(output: text)
        case .orphaned:
            throw RunInterrupted(
                "killed before the executor's lease could run out: the executor stopped answering its supervisor, or fenced itself off",
                output: text)
        case .spawnFailed(let error):
            throw RunFailure("cannot run \(configuration.shell): \(String(cString: strerror(error)))", output: text)
        case nil:
            throw RunFailure("the shell supervisor ended without a report (status \(supervisorStatus))", output: text)
        }
    }

    /// Reads the command's output until it closes, or until `afterEnd` seconds after the
    /// supervisor reported the end (its status pipe became readable or closed).
    static func capture(output: Int32, status: Int32, limit: Int, afterEnd: Double) -> BoundedOutput {
        var captured = BoundedOutput(limit: limit)
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var endedAt: Double?
        while true {
            var descriptors = [pollfd(fd: output, events: Int16(POLLIN), revents: 0)]
            if endedAt == nil { descriptors.append(pollfd(fd: status, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = -1
            if let endedAt { wait = Int32(max(0, (endedAt + afterEnd - monotonicSeconds()) * 1000).rounded(.up)) }
            let ready = poll(&descriptors, nfds_t(descriptors.count), wait)
            if ready < 0 && errno == EINTR { continue }
            if descriptors.count > 1 && descriptors[1].revents != 0 { endedAt = monotonicSeconds() }
            if descriptors[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
                if n > 0 {
                    buffer.withUnsafeBytes { captured.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    continue
                }
                if n == 0 || errno != EINTR { break }
            }
            if let endedAt, monotonicSeconds() >= endedAt + afterEnd { break }
        }
        return captured
    }

    private static func monotonicSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// The attempt was cut short because its executor lost (or could lose) its lease: not the task's
/// fault. The executor treats it as an interruption: `at_least_once` runs the fire again.
public struct RunInterrupted: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var output: String?
    public init(_ message: String, output: String? = nil) { (self.message, self.output) = (message, output) }
    public var description: String { message }
}

/// The attempt ran out of time (the executor records `timed_out`).
public struct RunTimedOut: Error, Sendable {
    public var output: String?
    public init(output: String? = nil) { self.output = output }
}

/// The attempt was stopped on request (the executor records `killed`).
public struct RunKilled: Error, Sendable {
    public var output: String?
    public init(output: String? = nil) { self.output = output }
}

/// A pipe whose ends are closed on exec, so children get only what is passed on purpose.
final class Pipe2 {
    private(set) var read: Int32
    private(set) var write: Int32

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard sundial_pipe_cloexec(&fds) == 0 else {
            throw RunFailure("cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        read = fds[0]
        write = fds[1]
    }

    func closeRead() {
        if read >= 0 { close(read) }
        read = -1
    }

    func closeWrite() {
        if write >= 0 { close(write) }
        write = -1
    }

    func closeBoth() {
        closeRead()
        closeWrite()
    }
}

/// The write ends of the supervisors' liveness pipes, and the executor's lease as they must know
/// it: every ping tells each supervisor how long the lease is certainly still valid, so that a
/// command is dead before another executor could take its fire over (see `SupervisorWatch`).
public final class LivenessPipes: @unchecked Sendable {
    private let lock = NSLock()
    private var pipes: [Int: Int32] = [:]
    private var next = 0
    private var leaseValidUntil: ContinuousClock.Instant?
    private var currentFenceGrace: Double = 5

    public init() {}

    /// Commands may certainly run until `validUntil`: the executor's lease (measured from before
    /// the renewal was sent) less a margin for the kill to land. `fenceGrace`: seconds between
    /// SIGTERM and SIGKILL when commands must go before then.
    public func leaseRenewed(validUntil: ContinuousClock.Instant, fenceGrace: Double) {
        lock.withLock {
            leaseValidUntil = max(leaseValidUntil ?? validUntil, validUntil)
            currentFenceGrace = fenceGrace
        }
    }

    /// Seconds the lease is certainly still valid; very long when there is no lease (a handler
    /// used outside an executor).
    var leaseLeft: Double {
        lock.withLock { leaseValidUntil.map { max(0, ($0 - .now).timeInterval) } ?? 1e9 }
    }

    var fenceGrace: Double { lock.withLock { currentFenceGrace } }

    func register(_ descriptor: Int32) -> Int {
        // Never block the heartbeat on a supervisor that stopped reading.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
        return lock.withLock {
            next += 1
            pipes[next] = descriptor
            return next
        }
    }

    func unregister(_ id: Int) { lock.withLock { _ = pipes.removeValue(forKey: id) } }

    func send(_ byte: UInt8, to id: Int) {
        lock.withLock {
            guard let descriptor = pipes[id] else { return }
            var value = byte
            _ = Glibc.write(descriptor, &value, 1)
        }
    }

    /// Tells every supervisor how long the lease is certainly still valid.
    public func pingAll() {
        lock.withLock {
            guard let until = leaseValidUntil, !pipes.isEmpty else { return }
            let milliseconds = Int(max(0, (until - .now).timeInterval) * 1000)
            var line = Array("\(milliseconds)\n".utf8)
            for descriptor in pipes.values { _ = Glibc.write(descriptor, &line, line.count) }
        }
    }
}
