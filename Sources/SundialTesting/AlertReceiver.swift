import Foundation

/// The tests' alert receivers (`Tests/Fixtures/alert_receiver.py`): a webhook receiver, and with
/// `smtp` a mail server that requires STARTTLS and a login (user `sundial`, password `s3cret`).
/// Stops when released.
public final class AlertReceiver: @unchecked Sendable {
    /// One request or mail received.
    public struct Received: Sendable {
        public var kind: String
        public var path: String?
        public var status: Int?
        public var headers: [String: String]
        public var body: Data
        /// Mail only.
        public var from: String?
        public var to: [String]
        public var tls: Bool
        public var login: String?
        public var mail: String?
    }

    public let httpPort: Int
    public let smtpPort: Int?
    /// The mail server's self-signed certificate, to trust.
    public let certificate: String?
    private let process = Process()
    private let input = Pipe()
    private let out: URL
    private let folder: URL

    /// The Python that runs the receivers: SUNDIAL_TEST_PYTHON (deploy/dev/run-tests makes a
    /// virtualenv with aiosmtpd), else python3.
    public static var python: String { ProcessInfo.processInfo.environment["SUNDIAL_TEST_PYTHON"] ?? "python3" }

    /// Whether the mail tests run: always under `deploy/dev/run-tests` (which sets
    /// SUNDIAL_TEST_PYTHON, so a broken receiver fails them), elsewhere only if aiosmtpd is there.
    public static var mailServerExpected: Bool {
        ProcessInfo.processInfo.environment["SUNDIAL_TEST_PYTHON"] != nil || canServeMail
    }

    /// Whether a mail server can be started here (aiosmtpd importable).
    public static let canServeMail: Bool = {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = [python, "-c", "import aiosmtpd"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { return false }
        check.waitUntilExit()
        return check.terminationStatus == 0
    }()

    public init(smtp: Bool = false) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sundial-receiver-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        out = folder.appendingPathComponent("received.jsonl")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tests/Fixtures/alert_receiver.py")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [Self.python, script.path, "--out", out.path] + (smtp ? ["--smtp-certs", folder.path] : [])
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let line = output.fileHandleForReading.readLine()
        guard let line, let ready = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let http = ready["http"] as? Int
        else {
            process.terminate()
            throw ReceiverError(message: "the alert receiver did not start (is \(Self.python) there, with aiosmtpd?)")
        }
        httpPort = http
        smtpPort = ready["smtp"] as? Int
        certificate = ready["cert"] as? String
    }

    deinit {
        try? input.fileHandleForWriting.close()
        // SIGKILL: a test process that ran a service group ignores SIGTERM, and its children
        // inherit that.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: folder)
    }

    public func url(_ path: String) -> String { "http://127.0.0.1:\(httpPort)/\(path)" }

    /// Everything received so far, in order.
    public var received: [Received] {
        let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                return nil
            }
            return Received(
                kind: object["kind"] as? String ?? "", path: object["path"] as? String,
                status: object["status"] as? Int,
                headers: object["headers"] as? [String: String] ?? [:],
                body: (object["body"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data(),
                from: object["from"] as? String, to: object["to"] as? [String] ?? [],
                tls: object["tls"] as? Bool ?? false, login: object["login"] as? String, mail: object["data"] as? String
            )
        }
    }

    /// Waits until what was received satisfies `condition`, polling; returns it either way.
    @discardableResult
    public func wait(timeout: TimeInterval = 30, until condition: ([Received]) -> Bool) -> [Received] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let now = received
            if condition(now) || Date() > deadline { return now }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    struct ReceiverError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

extension FileHandle {
    /// One line, read byte by byte (before anything else reads the handle).
    fileprivate func readLine() -> String? {
        var bytes: [UInt8] = []
        while true {
            let byte = readData(ofLength: 1)
            guard let first = byte.first else { return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self) }
            if first == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(first)
        }
    }
}
