import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `witness`: `{"file": "/abs/path"}`: appends one line per run, written by the thread that runs
/// it, to `<file>.<pid>.<n>` (one per thread): `task scheduled_for_µs attempt pid started_µs`, times in Unix
/// microseconds.
///
/// For drills and benchmarks: it is evidence of every execution that does not come from the
/// executor's own bookkeeping, so lost and duplicated fires show even if `cron_run` is wrong.
/// One `write` per line to a file only that thread writes (threads appending to one file queue
/// up on its lock, and would measure themselves): a line written survives the process being killed.
public struct WitnessHandler: TaskHandler {
    struct Settings: Decodable { var file: String }

    public init() {}

    public func validate(payload: Data) throws { _ = try prepare(payload: payload) }

    /// The file, opened once per task definition: decoding JSON and opening the file on every
    /// run would cost more than the write.
    public func prepare(payload: Data) throws -> (any Sendable)? {
        let settings = try Payload.decode(Settings.self, from: payload)
        guard settings.file.hasPrefix("/") else { throw TaskPayloadError("payload: file must be an absolute path") }
        return try WitnessFile(path: settings.file)
    }

    public func run(_ context: RunContext) throws -> RunOutput {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let started = Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
        guard let file = try context.prepared as? WitnessFile ?? prepare(payload: context.payload) as? WitnessFile
        else { throw RunFailure("payload: file is missing") }
        let scheduled = Int64((context.scheduledFor.timeIntervalSince1970 * 1_000_000).rounded())
        let line = "\(context.taskID) \(scheduled) \(context.attempt) \(getpid()) \(started)\n"
        let descriptor = try file.descriptorForThisThread()
        let written = line.utf8CString.withUnsafeBufferPointer { write(descriptor, $0.baseAddress, $0.count - 1) }
        guard written == line.utf8.count else {
            throw RunFailure("cannot write \(file.path): \(String(cString: strerror(errno)))")
        }
        return RunOutput()
    }
}

/// A witness file, one descriptor per thread, all closed when no task definition uses it any more.
final class WitnessFile: Sendable {
    let path: String
    /// Descriptors by thread (`pthread_self`): a lookup under a lock held for nanoseconds, where
    /// a shared descriptor would queue every write on the file's lock.
    private let descriptors = Mutex<[UInt: Int32]>([:])

    init(path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw TaskPayloadError("payload: cannot write in \(directory)")
        }
        self.path = path
    }

    func descriptorForThisThread() throws -> Int32 {
        let thread = UInt(pthread_self())
        return try descriptors.withLock { descriptors in
            if let descriptor = descriptors[thread] { return descriptor }
            let name = "\(path).\(getpid()).\(descriptors.count)"
            let descriptor = open(name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                throw RunFailure("cannot open \(name): \(String(cString: strerror(errno)))")
            }
            descriptors[thread] = descriptor
            return descriptor
        }
    }

    deinit { descriptors.withLock { $0.values.forEach { close($0) } } }
}
