import CSundialSystem
import Foundation
import SundialSupervisor

#if canImport(Glibc)
    import Glibc
#endif

/// The executor's end of its job supervisor (`JobSupervisor`): the process is started on first
/// use and again if it died; messages are written whole, one writer at a time, and a ping never
/// blocks the thread that sends it.
final class JobSupervisorConnection: @unchecked Sendable {
    let command: [String]
    private let lock = NSLock()
    private var socket: Int32 = -1
    private var pid: pid_t = 0
    private var lastID: UInt64 = 0
    /// Supervisors let go of while still running: reaped once they exit.
    private var former: [pid_t] = []

    init(command: [String]) { self.command = command }

    deinit {
        if socket >= 0 { close(socket) }
    }

    /// The supervisor's process, while there is one.
    var processID: pid_t? { lock.withLock { pid > 0 ? pid : nil } }

    /// A fresh job id.
    func nextID() -> UInt64 {
        lock.withLock {
            lastID += 1; return lastID
        }
    }

    /// Has the supervisor start `request`, its output going to `output` and its reports to
    /// `status` (both are passed over, the caller closes its copies).
    func start(_ request: JobRequest, output: Int32, status: Int32) throws {
        let frame = JobMessage.start(request).frame
        try lock.withLock {
            for attempt in 0..<2 {
                if socket < 0 { try launch() }
                if sendFrame(frame, fds: [output, status], blocking: true) { return }
                // Gone (it died, or stopped reading): a fresh one, once.
                disconnect()
                if attempt == 1 { break }
            }
            throw RunFailure("cannot reach the shell supervisor \(command[0])")
        }
    }

    /// Sends `message` to the supervisor, if there is one. With `blocking` (a kill: it must not
    /// be lost to a full socket), waits for room; otherwise (word of the lease, sent often) it
    /// is dropped when the supervisor cannot take it at once.
    func send(_ message: JobMessage, blocking: Bool = false) {
        lock.withLock {
            reapFormer()
            guard socket >= 0 else { return }
            if !sendFrame(message.frame, fds: [], blocking: blocking) { return }
        }
    }

    /// Under the lock.
    private func reapFormer() {
        var status: Int32 = 0
        former.removeAll { waitpid($0, &status, WNOHANG) != 0 }
    }

    /// Under the lock.
    private func launch() throws {
        var fds: [Int32] = [-1, -1]
        guard sundial_socketpair_cloexec(&fds) == 0 else {
            throw RunFailure("cannot create the supervisor's socket: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fds[1], 3)
        sundial_spawn_add_closefrom(&actions, 4)
        var cArguments = command.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, command[0], &actions, nil, &cArguments, environ)
        close(fds[1])
        guard spawned == 0 else {
            close(fds[0])
            throw RunFailure("cannot start the shell supervisor \(command[0]): \(String(cString: strerror(spawned)))")
        }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        (socket, pid) = (fds[0], child)
    }

    /// Under the lock. Closing the socket tells the supervisor the executor is gone: it ends every
    /// command it still runs and exits.
    private func disconnect() {
        if socket >= 0 { close(socket) }
        socket = -1
        if pid > 0 {
            var status: Int32 = 0
            // Reaped if it is gone; otherwise it exits on its own once its commands have ended,
            // and is reaped then.
            if waitpid(pid, &status, WNOHANG) == 0 { former.append(pid) }
        }
        pid = 0
    }

    /// Under the lock. Writes the whole frame, descriptors with its first bytes. Not blocking:
    /// gives up (false) if nothing could be written at once; a frame begun is always finished
    /// (within a second, or the supervisor is taken for stuck and disconnected).
    private func sendFrame(_ frame: [UInt8], fds: [Int32], blocking: Bool) -> Bool {
        var sent = 0
        while sent < frame.count {
            let n = frame[sent...].withUnsafeBytes { bytes in
                sundial_send_with_fds(
                    socket, bytes.baseAddress, UInt(bytes.count), fds, sent == 0 ? Int32(fds.count) : 0)
            }
            if n > 0 {
                sent += n
                continue
            }
            guard n < 0, errno == EAGAIN || errno == EINTR else {
                disconnect()
                return false
            }
            if sent == 0 && !blocking { return false }
            var ready = pollfd(fd: socket, events: Int16(POLLOUT), revents: 0)
            if poll(&ready, 1, 1_000) <= 0 {
                disconnect()
                return false
            }
        }
        return true
    }
}
