import CSundialSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The small process between an executor and a shell command.
///
/// Started as `sundial-supervise TIMEOUT GRACE FENCE_GRACE LEASE_LEFT -- command…` with three
/// descriptors: 3, the executor's liveness pipe (see `SupervisorWatch`); 4, where it reports how
/// the command ended; and standard output and error, the capture pipe. It runs the command in a
/// process group of its own and kills the whole group (SIGTERM, then SIGKILL after GRACE seconds)
/// when the command times out or the executor asks, and, most importantly, before the executor's
/// lease could run out when the executor dies (the pipe closes), fences itself off, or stops
/// answering (e.g. it was frozen with SIGSTOP), with FENCE_GRACE seconds between the signals:
/// then the command cannot run beside the copy another executor starts after taking over.
///
/// It uses nothing but the C library, so that it starts in a few milliseconds: one starts for
/// every shell run.
public enum Supervisor {
    /// How a supervised command ended, as written to descriptor 4.
    public enum Ending: Equatable, Sendable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case killed
        case orphaned
        case spawnFailed(Int32)

        public var line: String {
            switch self {
            case .exited(let code): return "exit \(code)"
            case .signalled(let signal): return "signal \(signal)"
            case .timedOut: return "timeout"
            case .killed: return "killed"
            case .orphaned: return "orphaned"
            case .spawnFailed(let errno): return "spawn \(errno)"
            }
        }

        public init?(line: String) {
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

    /// Supervises the command in `arguments` (everything after the program name) and returns
    /// the exit status for the supervisor process.
    public static func main(arguments: [String]) -> Int32 {
        guard arguments.count >= 6, arguments[4] == "--", let timeout = Double(arguments[0]),
            let grace = Double(arguments[1]), let fenceGrace = Double(arguments[2]),
            let leaseLeft = Double(arguments[3])
        else {
            let usage = "sundial-supervise: usage: TIMEOUT GRACE FENCE_GRACE LEASE_LEFT -- command…\n"
            _ = usage.withCString { write(2, $0, strlen($0)) }
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
        // Readable when the command exits: one poll waits for it and for the executor.
        let exited = sundial_pidfd_open(child)

        var watch = SupervisorWatch(
            now: monotonicNow(), timeout: timeout, grace: grace, fenceGrace: fenceGrace, leaseLeft: leaseLeft)
        var livenessOpen = true
        var buffer = [UInt8](repeating: 0, count: 256)
        var status: Int32 = 0
        while true {
            if exited < 0 {
                // No pidfd (an old kernel): look every 10 ms.
                if waitpid(child, &status, WNOHANG) == child { break }
            }
            var descriptors = [pollfd(fd: exited, events: Int16(POLLIN), revents: 0)]
            if livenessOpen { descriptors.append(pollfd(fd: 3, events: Int16(POLLIN), revents: 0)) }
            var wait = Int32((watch.wait(now: monotonicNow()) * 1000).rounded(.up))
            if exited < 0 { wait = min(wait, 10) }
            _ = poll(&descriptors, nfds_t(descriptors.count), wait)
            if exited >= 0 && descriptors[0].revents != 0 {
                while waitpid(child, &status, 0) == -1 && errno == EINTR {}
                break
            }
            if livenessOpen && descriptors[1].revents != 0 {
                let n = read(3, &buffer, buffer.count)
                if n <= 0 {
                    livenessOpen = false
                    watch.executorGone(now: monotonicNow())
                } else {
                    watch.received(buffer[0..<n], now: monotonicNow())
                }
            }
            switch watch.poll(now: monotonicNow()) {
            case .terminate: kill(-child, SIGTERM)
            case .kill: kill(-child, SIGKILL)
            case .none: break
            }
        }
        // Whatever the command left behind in its group goes with it.
        kill(-child, SIGKILL)
        if let ending = watch.ending {
            report(ending)
        } else if status & 0x7f == 0 {
            report(.exited((status >> 8) & 0xff))
        } else {
            report(.signalled(status & 0x7f))
        }
        return 0
    }

    private static func monotonicNow() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    private static func report(_ ending: Ending) {
        let line = ending.line + "\n"
        _ = line.withCString { write(4, $0, strlen($0)) }
    }
}
