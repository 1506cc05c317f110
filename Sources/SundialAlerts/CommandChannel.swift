import Foundation
import SundialActions
import SundialCore

/// Runs a shell command (`/bin/sh -c`, leading a process group of its own) with the alert in
/// `SUNDIAL_ALERT_*` environment variables and as JSON on stdin. It inherits what a job would (no
/// `SUNDIAL_*` setting, no secret the settings name). Exit status 0 is a delivery; anything else,
/// or still running at the timeout (then its whole process group is killed), is retried. The last
/// lines of its stderr become the error.
public struct CommandChannel: AlertChannel {
    public let settings: ChannelSettings

    public func deliver(_ message: AlertMessage) throws(AlertDeliveryError) {
        guard case .command(let command) = settings.kind else { return }
        let process = Process()
        // Foundation starts it as the leader of a process group of its own: a timeout ends the group.
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = JobEnvironment.inherited(ProcessInfo.processInfo.environment).merging(
            message.environment
        ) { $1 }
        // Stdin is a file, not a pipe: a command that never reads it cannot block the dispatcher,
        // nor one that exits early raise SIGPIPE in the executor.
        let input = try Self.inputFile(message.json)
        defer { try? input.close() }
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let stderr = Captured()
        errors.fileHandleForReading.readabilityHandler = { handle in stderr.append(handle.availableData) }
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        do {
            try process.run()
        } catch {
            throw AlertDeliveryError("could not start /bin/sh: \(error.localizedDescription)")
        }
        if ended.wait(timeout: .now() + settings.timeout.timeInterval) == .timedOut {
            if getpgid(process.processIdentifier) == process.processIdentifier {
                kill(-process.processIdentifier, SIGKILL)
            }
            kill(process.processIdentifier, SIGKILL)
            _ = ended.wait(timeout: .now() + 2)
            errors.fileHandleForReading.readabilityHandler = nil
            throw AlertDeliveryError(
                "the command did not finish within \(settings.timeout.timeInterval) s and was killed")
        }
        // Not read to the end: a child the command left behind may hold stderr open.
        Thread.sleep(forTimeInterval: 0.05)
        errors.fileHandleForReading.readabilityHandler = nil
        guard process.terminationReason == .exit && process.terminationStatus == 0 else {
            let how =
                process.terminationReason == .exit
                ? "exited with status \(process.terminationStatus)"
                : "was killed by signal \(process.terminationStatus)"
            let said = stderr.text
            throw AlertDeliveryError("the command \(how)\(said.isEmpty ? "" : ": \(said)")")
        }
    }

    /// `body` in an unlinked temporary file, open for reading from its start.
    private static func inputFile(_ body: Data) throws(AlertDeliveryError) -> FileHandle {
        var template = Array((NSTemporaryDirectory() + "/sundial-alert-XXXXXX").utf8CString)
        let descriptor = mkstemp(&template)
        guard descriptor >= 0 else { throw AlertDeliveryError("could not create the command's input: errno \(errno)") }
        unlink(String(cString: template))
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: body)
            try handle.seek(toOffset: 0)
        } catch {
            throw AlertDeliveryError("could not write the command's input: \(error.localizedDescription)")
        }
        return handle
    }

    /// The last 1,000 bytes of stderr.
    private final class Captured: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()

        func append(_ more: Data) {
            lock.lock()
            data.append(more)
            if data.count > 4_000 { data = data.suffix(1_000) }
            lock.unlock()
        }

        var text: String {
            lock.lock()
            defer { lock.unlock() }
            return String(decoding: data.suffix(1_000), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
