import Foundation
import SundialTesting

/// What a finished command printed and returned.
struct CommandResult {
    var status: Int32
    var standardOutput: String
    var standardError: String
}

/// Runs the `sundial` binary built next to this test bundle.
enum Sundial {
    static var binary: URL { IntegrationEnvironment.sundialBinary }

    /// `input`: written to the command's standard input, which is then closed.
    static func run(
        _ arguments: [String], environment: [String: String] = [:], input: String? = nil
    ) throws -> CommandResult {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        if input != nil { process.standardInput = stdin }
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandResult(
            status: process.terminationStatus, standardOutput: String(decoding: output, as: UTF8.self),
            standardError: String(decoding: error, as: UTF8.self))
    }
}

extension Sundial {
    /// The environment that points `sundial` at the test database `name` (the primary alone).
    static func environment(database name: String) throws -> [String: String] {
        ["SUNDIAL_DATABASE_URL": try IntegrationEnvironment.url(database: name), "SUNDIAL_REPLICA_URLS": ""]
    }
}
