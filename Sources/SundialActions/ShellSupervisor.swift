import Foundation
import SundialSupervisor

/// Where the `shell` action finds its supervisor process (see `Supervisor`).
///
/// `sundial-supervise`, installed beside the executor's binary, starts in a few milliseconds.
/// Without it the executor's own binary is started again as the supervisor: binaries that embed
/// the executor must then call `ShellSupervisor.runIfRequested()` first thing in `main`, as
/// `sundial` does.
public enum ShellSupervisor {
    public static let argument = "__sundial-supervise"

    /// If this process was started as a supervisor, supervises and exits; otherwise returns.
    public static func runIfRequested() {
        let arguments = CommandLine.arguments
        guard arguments.count > 1, arguments[1] == argument else { return }
        exit(Supervisor.main(arguments: Array(arguments.dropFirst(2))))
    }

    /// `sundial-supervise` beside this binary, or this binary with `argument`.
    public static var defaultCommand: [String] {
        let executable =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let beside = URL(fileURLWithPath: executable).deletingLastPathComponent()
            .appendingPathComponent("sundial-supervise").path
        if FileManager.default.isExecutableFile(atPath: beside) { return [beside] }
        return [executable, argument]
    }
}
