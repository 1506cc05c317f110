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
        /// silent or fenced off, the grace is shorter and set by its lease: see `ShellLiveness`.)
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
    let liveness: ShellLiveness

    public init(configuration: Configuration = Configuration(), liveness: ShellLiveness) {
        self.configuration = configuration
        self.liveness = liveness
    }

    public func validate(payload: Data) throws {
        let settings = try Payload.decode(Settings.self, from: payload)
        guard !settings.command.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TaskPayloadError("payload: command is empty")
        }
        if settings.command.utf8.contains(0) || (settings.cwd ?? "").utf8.contains(0) {
            throw TaskPayloadError("payload: command and cwd cannot hold a NUL byte")
        }
        if let timeout = settings.timeout, !(timeout > 0) { throw TaskPayloadError("payload: timeout must be above 0") }
        if let cwd = settings.cwd, !cwd.hasPrefix("/") {
            throw TaskPayloadError("payload: cwd must be an absolute path")
        }
    }

    public func run(_ context: RunContext) throws -> RunOutput {
        let settings = try Payload.decode(Settings.self, from: context.payload)
        guard !settings.command.utf8.contains(0), !(settings.cwd ?? "").utf8.contains(0) else {
            throw RunFailure("payload: the command or cwd holds a NUL byte")
        }
        let timeout = settings.timeout ?? context.timeout ?? 0
        let output = try Pipe2()
        defer { output.closeBoth() }
        let status = try Pipe2()
        defer { status.closeBoth() }
        var environment = JobEnvironment.inherited(ProcessInfo.processInfo.environment)
        for (key, value) in settings.env ?? [:] { environment[key] = value }
        environment["SUNDIAL_TASK_ID"] = String(context.taskID)
        environment["SUNDIAL_TASK_NAME"] = context.taskName
        environment["SUNDIAL_ATTEMPT"] = String(context.attempt)
        let supervisor = liveness.supervisor(configuration.supervisor)
        let id = supervisor.nextID()
        try supervisor.start(
            JobRequest(
                id: id, timeout: timeout, grace: configuration.killGrace, fenceGrace: liveness.fenceGrace,
                leaseLeft: liveness.leaseLeft, directory: settings.cwd,
                arguments: [configuration.shell, "-c", settings.command],
                environment: environment.filter { !$0.key.utf8.contains(0) && !$0.value.utf8.contains(0) }
                    .map { "\($0.key)=\($0.value)" }),
            output: output.write, status: status.write)
        output.closeWrite()
        status.closeWrite()

        // A stopping or fenced executor's commands go quickly: its lease may be running out.
        context.onCancel { reason in
            supervisor.send(reason == .executorStopping ? .fence(job: id) : .kill(job: id), blocking: true)
        }

        var captured = Self.capture(
            output: output.read, status: status.read, limit: configuration.outputLimit,
            afterEnd: configuration.outputAfterEnd, publish: context.publishOutput)
        // The supervisor has reported the end (or died): the rest of its report, up to EOF.
        captured.report += Self.readToEnd(status.read)
        let report = SupervisorReport(captured.report)
        guard let ending = report.ending else {
            // Without its supervisor nothing watches the command any more: it goes now.
            // A failure, with attempts and backoff, rather than an interruption run again at once:
            // a command can kill its own supervisor (`kill -9 $PPID`) and would loop.
            if let pid = report.pid { kill(-pid, SIGKILL) }
            throw RunFailure("the shell supervisor ended without a report", output: captured.output.text)
        }
        let text = captured.output.text
        switch ending {
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
        }
    }

    /// What the supervisor wrote about one command: `pid N` once started, then how it ended.
    struct SupervisorReport {
        var pid: pid_t?
        var ending: Supervisor.Ending?

        init(_ bytes: [UInt8]) {
            for line in bytes.split(separator: UInt8(ascii: "\n")).map({ String(decoding: $0, as: UTF8.self) }) {
                if line.hasPrefix("pid "), let pid = pid_t(line.dropFirst(4)) {
                    self.pid = pid
                } else if let ending = Supervisor.Ending(line: line) {
                    self.ending = ending
                }
            }
        }

        /// Whether `bytes` hold the end (a line other than the pid's).
        static func holdsEnding(_ bytes: [UInt8]) -> Bool { SupervisorReport(bytes).ending != nil }
    }

    static func readToEnd(_ descriptor: Int32) -> [UInt8] {
        var all: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n > 0 {
                all += buffer.prefix(n)
            } else if n == 0 || errno != EINTR {
                return all
            }
        }
    }

    /// Seconds between reports of the output so far.
    static let publishInterval = 1.0

    /// Reads the command's output until it closes, or until `afterEnd` seconds after the
    /// supervisor reported the end (an ending line on its status pipe, or the pipe closed).
    /// While it runs, the output so far goes to `publish` about once a second (when there is new
    /// output), for people following the run.
    static func capture(
        output: Int32, status: Int32, limit: Int, afterEnd: Double, publish: ((String) -> Void)? = nil
    ) -> (output: BoundedOutput, report: [UInt8]) {
        var captured = BoundedOutput(limit: limit)
        var published = (at: Supervisor.monotonicNow(), total: 0)
        var report: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        var endedAt: Double?
        while true {
            var descriptors = [pollfd(fd: output, events: Int16(POLLIN), revents: 0)]
            if endedAt == nil { descriptors.append(pollfd(fd: status, events: Int16(POLLIN), revents: 0)) }
            var wait: Int32 = -1
            if let endedAt {
                wait = Int32(max(0, (endedAt + afterEnd - Supervisor.monotonicNow()) * 1000).rounded(.up))
            }
            if publish != nil, captured.total > published.total {
                // Output not yet reported: wake to report it even if nothing more comes.
                let due = Int32(
                    max(0, (published.at + Self.publishInterval - Supervisor.monotonicNow()) * 1000).rounded(.up))
                wait = wait < 0 ? due : min(wait, due)
            }
            let ready = poll(&descriptors, nfds_t(descriptors.count), wait)
            if ready < 0 && errno == EINTR { continue }
            if descriptors.count > 1 && descriptors[1].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(status, $0.baseAddress, min(256, $0.count)) }
                if n > 0 { report += buffer.prefix(n) }
                if n == 0 || (n < 0 && errno != EINTR) || SupervisorReport.holdsEnding(report) {
                    endedAt = Supervisor.monotonicNow()
                }
            }
            if descriptors[0].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
                if n > 0 {
                    buffer.withUnsafeBytes { captured.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    if let publish, Supervisor.monotonicNow() - published.at >= Self.publishInterval {
                        publish(captured.text)
                        published = (Supervisor.monotonicNow(), captured.total)
                    }
                    continue
                }
                if n == 0 || errno != EINTR { break }
            }
            if let endedAt, Supervisor.monotonicNow() >= endedAt + afterEnd { break }
            // Quiet now, but output came since the last report: report it (without waiting
            // for more to come).
            if let publish, captured.total > published.total,
                Supervisor.monotonicNow() - published.at >= Self.publishInterval
            {
                publish(captured.text)
                published = (Supervisor.monotonicNow(), captured.total)
            }
        }
        return (captured, report)
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
