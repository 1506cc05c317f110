import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The small process between the executor and a shell command.
///
/// The executor starts it as
/// `<binary> __sundial-supervise TIMEOUT GRACE FENCE_GRACE LEASE_LEFT -- command…` with three
/// descriptors: 3, the executor's liveness pipe (see `SupervisorWatch`); 4, where it reports how the
/// command ended; and standard output and error, the capture pipe. It runs the command in a
/// process group of its own and kills the whole group (SIGTERM, then SIGKILL after GRACE seconds)
/// when the command times out or the executor asks, and, most importantly, before the executor's
/// lease could run out when the executor dies (the pipe closes), fences itself off, or stops
/// answering (e.g. it was frozen with SIGSTOP), with FENCE_GRACE seconds between the signals:
/// then the command cannot run beside the copy another executor starts after taking over.
///
/// Binaries that embed the executor must call `ShellSupervisor.runIfRequested()` first thing in
/// `main`, as `sundial` does.
public enum ShellSupervisor {
    public static let argument = "__sundial-supervise"

    /// If this process was started as a supervisor, supervises and exits; otherwise returns.
    public static func runIfRequested() {
        let arguments = CommandLine.arguments
        guard arguments.count > 1, arguments[1] == argument else { return }
        exit(supervise(Array(arguments.dropFirst(2))))
    }

    /// How a supervised command ended, as written to descriptor 4.
    enum Ending: Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case killed
        case orphaned
        case spawnFailed(Int32)

        var line: String {
            switch self {
            case .exited(let code): return "exit \(code)"
            case .signalled(let signal): return "signal \(signal)"
            case .timedOut: return "timeout"
            case .killed: return "killed"
            case .orphaned: return "orphaned"
            case .spawnFailed(let errno): return "spawn \(errno)"
            }
        }

        init?(line: String) {
            let parts = line.split(separator: " ")
            switch (parts.first, parts.count > 1 ? Int32(parts[1]) : nil) {
            case ("exit", let code?): self = .exited(code)
            case ("signal", let signal?): self = .signalled(signal)
            case ("timeout", _): self = .timedOut
            case ("killed", _): self = .killed
            case ("orphaned", _): self = .orphaned
            case ("spawn", let errno?): self = .spawnFailed(errno)
            default: return nil
            }
        }
    }

    static func supervise(_ arguments: [String]) -> Int32 {
        guard arguments.count >= 6, arguments[4] == "--", let timeout = Double(arguments[0]),
            let grace = Double(arguments[1]), let fenceGrace = Double(arguments[2]),
            let leaseLeft = Double(arguments[3])
        else {
            FileHandle.standardError.write(Data("sundial supervisor: bad arguments\n".utf8))
            return 64
        }
        let command = Array(arguments[5...])
        signal(SIGPIPE, SIG_IGN)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        posix_spawnattr_setpgroup(&attributes, 0)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addclose(&actions, 3)
        posix_spawn_file_actions_addclose(&actions, 4)

        var cArguments = command.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawnp(&child, command[0], &actions, &attributes, &cArguments, environ)
        guard spawned == 0 else {
            report(.spawnFailed(spawned))
            return 127
        }

        // A thread waits for the child and wakes the main loop through a pipe.
        var exitPipe: [Int32] = [0, 0]
        pipe(&exitPipe)
        let statusBox = StatusBox()
        let writeEnd = exitPipe[1]
        let childPID = child
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(childPID, &status, 0) == -1 && errno == EINTR {}
            statusBox.set(status)
            var byte: UInt8 = 1
            _ = write(writeEnd, &byte, 1)
        }
        waiter.start()

        func now() -> Double {
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
        }
        var watch = SupervisorWatch(
            now: now(), timeout: timeout, grace: grace, fenceGrace: fenceGrace, leaseLeft: leaseLeft)
        var livenessOpen = true
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            var descriptors = [pollfd(fd: exitPipe[0], events: Int16(POLLIN), revents: 0)]
            if livenessOpen { descriptors.append(pollfd(fd: 3, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&descriptors, nfds_t(descriptors.count), Int32((watch.wait(now: now()) * 1000).rounded(.up)))
            if descriptors[0].revents != 0 { break }
            if livenessOpen && descriptors[1].revents != 0 {
                let n = read(3, &buffer, buffer.count)
                if n <= 0 {
                    livenessOpen = false
                    watch.executorGone(now: now())
                } else {
                    watch.received(buffer[0..<n], now: now())
                }
            }
            switch watch.poll(now: now()) {
            case .terminate: kill(-childPID, SIGTERM)
            case .kill: kill(-childPID, SIGKILL)
            case .none: break
            }
        }
        // Whatever the command left behind in its group goes with it.
        kill(-childPID, SIGKILL)
        let status = statusBox.value
        if let ending = watch.ending {
            report(ending)
        } else if status & 0x7f == 0 {
            report(.exited((status >> 8) & 0xff))
        } else {
            report(.signalled(status & 0x7f))
        }
        return 0
    }

    private static func report(_ ending: Ending) {
        let line = ending.line + "\n"
        _ = line.withCString { write(4, $0, strlen($0)) }
    }

    private final class StatusBox: @unchecked Sendable {
        private let lock = NSLock()
        private var status: Int32 = 0
        func set(_ value: Int32) { lock.withLock { status = value } }
        var value: Int32 { lock.withLock { status } }
    }
}
