import CSundialSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The process between an executor and its shell commands (see `JobSupervisor`), and how it
/// reports a command's end.
///
/// It uses nothing but the C library and is linked statically, so that it starts fast: one
/// starts per executor (and again if it ever dies).
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

    /// A command that could not be started: the `errno` of `posix_spawn`.
    public struct SpawnFailure: Error, Equatable, Sendable {
        public var code: Int32
    }

    /// Seconds on the monotonic clock (the C library's: no Foundation here).
    public static func monotonicNow() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The supervisor process's entry point: `JobSupervisor` on descriptor 3. Returns the exit status.
    public static func main(arguments: [String]) -> Int32 {
        guard arguments.isEmpty, fcntl(3, F_GETFD) >= 0 else {
            let usage = "sundial-supervise: started by `sundial executor`, with its socket on descriptor 3\n"
            _ = usage.withCString { write(2, $0, strlen($0)) }
            return 64
        }
        return JobSupervisor.main(socket: 3)
    }
}
