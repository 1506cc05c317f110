import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Child processes started with posix_spawn and reaped directly: Foundation's `Process` waits for
/// every holder of its pipes, and `devdb start` leaves a server running that holds them.
public enum ChildProcess {
    /// Starts `argv` (searched in PATH) with standard output and error appended to `log`.
    public static func spawn(_ argv: [String], environment: [String: String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        var cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, argv[0], &actions, nil, &cArguments, &cEnvironment)
        guard result == 0 else {
            throw TestFailure("cannot start \(argv[0]): \(String(cString: strerror(result)))")
        }
        return pid
    }

    /// Runs `argv` to the end; throws unless it exits 0.
    public static func run(_ argv: [String], log: String) throws {
        let pid = try spawn(argv, environment: ProcessInfo.processInfo.environment, log: log)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        guard status == 0 else {
            throw TestFailure("\(argv.joined(separator: " ")) failed (status \(status)); see \(log)")
        }
    }
}
