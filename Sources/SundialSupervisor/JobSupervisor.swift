import CSundialSystem

#if canImport(Glibc)
    import Glibc
#endif

/// The process that runs and watches an executor's shell commands: one per executor, started
/// with its socket on descriptor 3, so that a command costs one process start (its shell), not
/// two.
///
/// Each command runs in a process group of its own, watched by a `SupervisorWatch` of its own:
/// the whole group is killed (SIGTERM, then SIGKILL after a grace) when the command times out
/// or the executor asks, and, most importantly, before the executor's lease could run out when the
/// executor dies (the socket closes), fences itself off, or stops sending word of its lease (it
/// was frozen with SIGSTOP): then no command can run beside the copy another executor starts
/// after taking over. On each command's status descriptor it writes `pid N` when the command has
/// started and, when it has ended, one `Supervisor.Ending` line; then it closes it. It exits once
/// the executor is gone and every command has ended.
public enum JobSupervisor {
    struct Job {
        var request: JobRequest
        var pid: pid_t
        /// Readable when the command exits (-1 without pidfd support: polled).
        var exited: Int32
        var status: Int32
        var watch: SupervisorWatch
    }

    public static func main(socket: Int32) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        var jobs: [UInt64: Job] = [:]
        var reader = JobMessageReader()
        var passed: [Int32] = []
        var executorThere = true
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var descriptors = [Int32](repeating: -1, count: 64)
        while executorThere || !jobs.isEmpty {
            let now = Supervisor.monotonicNow()
            var polled = [pollfd]()
            if executorThere { polled.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0)) }
            let order = jobs.keys.sorted()
            for id in order where jobs[id]!.exited >= 0 {
                polled.append(pollfd(fd: jobs[id]!.exited, events: Int16(POLLIN), revents: 0))
            }
            var wait = jobs.isEmpty ? -1.0 : jobs.values.map { $0.watch.wait(now: now) }.min()!
            if jobs.values.contains(where: { $0.exited < 0 }) { wait = min(wait < 0 ? 0.01 : wait, 0.01) }
            _ = poll(&polled, nfds_t(polled.count), wait < 0 ? -1 : Int32((wait * 1000).rounded(.up)))

            if executorThere && polled[0].revents != 0 {
                var count: Int32 = 0
                let n = buffer.withUnsafeMutableBytes { bytes in
                    sundial_receive_with_fds(socket, bytes.baseAddress, UInt(bytes.count), &descriptors, 64, &count)
                }
                if n > 0 {
                    passed += descriptors.prefix(Int(count))
                    reader.append(buffer.prefix(n))
                    while true {
                        let next = reader.next()
                        switch next {
                        case .needMore: break
                        case .tooLarge:
                            executorThere = false
                        case .unreadable(let startedWithS):
                            // A start that cannot be read still took its two descriptors.
                            if startedWithS { for _ in 0..<2 where !passed.isEmpty { close(passed.removeFirst()) } }
                            continue
                        case .message(let message):
                            handle(message, jobs: &jobs, passed: &passed, now: Supervisor.monotonicNow())
                            continue
                        }
                        break
                    }
                } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                    // Closed, or descriptors lost on the way (then which start they belonged to
                    // can no longer be told): the executor is treated as gone.
                    executorThere = false
                }
                if !executorThere {
                    for id in jobs.keys { jobs[id]!.watch.executorGone(now: Supervisor.monotonicNow()) }
                    // Its end closes too (a live executor then starts a fresh supervisor), and
                    // so do descriptors of a start never read whole: its run sees the end.
                    close(socket)
                    passed.forEach { close($0) }
                    passed.removeAll()
                }
            }

            for id in jobs.keys.sorted() {
                var job = jobs[id]!
                var status: Int32 = 0
                if waitpid(job.pid, &status, WNOHANG) == job.pid {
                    // Whatever the command left behind in its group goes with it.
                    kill(-job.pid, SIGKILL)
                    report(job.watch.ending ?? ending(of: status), to: job.status)
                    close(job.status)
                    if job.exited >= 0 { close(job.exited) }
                    jobs[id] = nil
                    continue
                }
                switch job.watch.poll(now: Supervisor.monotonicNow()) {
                case .terminate: kill(-job.pid, SIGTERM)
                case .kill: kill(-job.pid, SIGKILL)
                case .none: break
                }
                jobs[id] = job
            }
        }
        return 0
    }

    private static func handle(_ message: JobMessage, jobs: inout [UInt64: Job], passed: inout [Int32], now: Double) {
        switch message {
        case .lease(let milliseconds):
            let word = Array("\(milliseconds)\n".utf8)
            for id in jobs.keys { jobs[id]!.watch.received(word, now: now) }
        case .kill(let id):
            jobs[id]?.watch.received([UInt8(ascii: "K")], now: now)
        case .fence(let id):
            jobs[id]?.watch.received([UInt8(ascii: "F")], now: now)
        case .start(let request):
            guard passed.count >= 2 else { return }
            let output = passed.removeFirst()
            let status = passed.removeFirst()
            defer { close(output) }
            switch spawn(request, output: output) {
            case .failure(let error):
                report(.spawnFailed(error.code), to: status)
                close(status)
            case .success(let pid):
                report(pid: pid, to: status)
                jobs[request.id] = Job(
                    request: request, pid: pid, exited: sundial_pidfd_open(pid), status: status,
                    watch: SupervisorWatch(
                        now: now, timeout: request.timeout, grace: request.grace, fenceGrace: request.fenceGrace,
                        leaseLeft: request.leaseLeft))
            }
        }
    }

    private static func spawn(_ request: JobRequest, output: Int32) -> Result<pid_t, Supervisor.SpawnFailure> {
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
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output, 1)
        posix_spawn_file_actions_adddup2(&actions, output, 2)
        if let directory = request.directory { sundial_spawn_add_chdir(&actions, directory) }
        // Nothing of the supervisor's (its socket, other commands' descriptors) reaches the job.
        sundial_spawn_add_closefrom(&actions, 3)
        var cArguments = request.arguments.map { strdup($0) } + [nil]
        var cEnvironment = request.environment.map { strdup($0) } + [nil]
        defer {
            cArguments.forEach { free($0) }
            cEnvironment.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, request.arguments[0], &actions, &attributes, &cArguments, &cEnvironment)
        return result == 0 ? .success(pid) : .failure(Supervisor.SpawnFailure(code: result))
    }

    private static func ending(of status: Int32) -> Supervisor.Ending {
        status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signalled(status & 0x7f)
    }

    private static func report(pid: pid_t, to descriptor: Int32) {
        write(line: "pid \(pid)\n", to: descriptor)
    }

    private static func report(_ ending: Supervisor.Ending, to descriptor: Int32) {
        write(line: ending.line + "\n", to: descriptor)
    }

    private static func write(line: String, to descriptor: Int32) {
        _ = line.withCString { Glibc.write(descriptor, $0, strlen($0)) }
    }
}
