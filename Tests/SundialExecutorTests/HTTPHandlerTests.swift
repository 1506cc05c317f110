import Foundation
import SundialCore
import SundialExecutor
import SundialMySQLStore
import SundialTesting
import Testing

@testable import SundialActions

/// The http action against a real HTTP server on loopback (Python's http.server).
@Suite(.serialized) struct HTTPHandlerTests {
    static let server: Result<(Process, Int), Error> = Result {
        let port = Int.random(in: 20_000...40_000)
        let script = """
            import http.server, os, sys, threading, time
            # Exit with the tests: their end closes our standard input.
            threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
            class H(http.server.BaseHTTPRequestHandler):
                def respond(self):
                    length = int(self.headers.get('Content-Length') or 0)
                    body = self.rfile.read(length).decode()
                    if self.path.startswith('/slow'): time.sleep(5)
                    if self.path.startswith('/redirect/'):
                        n = int(self.path.split('/')[2])
                        self.send_response(302)
                        self.send_header('Location', f'/redirect/{n - 1}' if n > 0 else '/landed')
                        self.end_headers()
                        return
                    if self.path.startswith('/big'):
                        self.send_response(200)
                        self.end_headers()
                        chunk = b'x' * 65536
                        for _ in range(160): self.wfile.write(chunk)
                        return
                    code = int(self.path.split('/')[-1]) if self.path.split('/')[-1].isdigit() else 200
                    self.send_response(code)
                    self.end_headers()
                    self.wfile.write(f"{self.command} {self.path} {self.headers.get('X-Token')} {body}".encode())
                do_GET = do_POST = do_PUT = respond
                def log_message(self, *args): pass
            http.server.ThreadingHTTPServer(('127.0.0.1', \(port)), H).serve_forever()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardInput = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait until it accepts connections.
        for _ in 0..<100 {
            if (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/200")!)) != nil { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return (process, port)
    }

    func run(_ payload: String, timeout: Double? = nil) throws -> RunOutput {
        let handler = HTTPHandler()
        try handler.validate(payload: Data(payload.utf8))
        return try handler.run(
            RunContext(
                taskID: 1, taskName: "http", payload: Data(payload.utf8), scheduledFor: Date(), attempt: 0,
                timeout: timeout))
    }

    @Test func aRequestWithMethodHeadersAndBodySucceedsOnAnExpectedStatus() throws {
        let port = try Self.server.get().1
        let output = try run(
            #"{"method": "POST", "url": "http://127.0.0.1:\#(port)/jobs/204", "headers": {"X-Token": "t0k"}, "body": "hello", "expect_status": [200, 204]}"#
        )
        #expect(output.exitCode == 204)
        let plain = try run(#"{"url": "http://127.0.0.1:\#(port)/ok"}"#)
        #expect(plain.exitCode == 200)
        #expect(plain.output == "GET /ok None ")
    }

    @Test func anUnexpectedStatusFailsWithTheBodyAsOutput() throws {
        let port = try Self.server.get().1
        do {
            _ = try run(#"{"url": "http://127.0.0.1:\#(port)/503"}"#)
            Issue.record("a 503 counted as success")
        } catch let failure as RunFailure {
            #expect(failure.message == "HTTP status 503")
            #expect(failure.output == "GET /503 None ")
        }
    }

    @Test func aSlowServerTimesOutAndARefusedConnectionFails() throws {
        let port = try Self.server.get().1
        #expect(throws: RunTimedOut.self) { _ = try run(#"{"url": "http://127.0.0.1:\#(port)/slow", "timeout": 0.5}"#) }
        #expect(throws: RunFailure.self) { _ = try run(#"{"url": "http://127.0.0.1:1/nothing-listens"}"#) }
    }

    @Test func redirectsAreFollowedFiveTimesAtMost() throws {
        let port = try Self.server.get().1
        let followed = try run(#"{"url": "http://127.0.0.1:\#(port)/redirect/4"}"#)
        #expect(followed.output == "GET /landed None ")
        do {
            _ = try run(#"{"url": "http://127.0.0.1:\#(port)/redirect/5"}"#)
            Issue.record("a sixth redirect was followed")
        } catch let failure as RunFailure {
            #expect(failure.message == "more than 5 redirects")
        }
    }

    @Test func aLargeBodyIsStreamedIntoBoundedOutputAndCapped() throws {
        let port = try Self.server.get().1
        var handler = HTTPHandler()
        let payload = Data(#"{"url": "http://127.0.0.1:\#(port)/big"}"#.utf8)
        let context = RunContext(
            taskID: 1, taskName: "big", payload: payload, scheduledFor: Date(), attempt: 0, timeout: 30)
        // 10 MiB: read whole, 64 KiB kept.
        let output = try handler.run(context)
        #expect(output.output?.utf8.count ?? 0 <= 70_000)
        handler.bodyLimit = 1 << 20
        do {
            _ = try handler.run(context)
            Issue.record("a body over the limit was read to its end")
        } catch let failure as RunFailure {
            #expect(failure.message.hasPrefix("the response body is larger than 1048576 bytes"))
        }
    }

    @Test func badPayloadsAreRejected() {
        let handler = HTTPHandler()
        #expect(throws: TaskPayloadError.self) {
            try handler.validate(payload: Data(#"{"url": "ftp://example.com"}"#.utf8))
        }
        #expect(throws: TaskPayloadError.self) {
            try handler.validate(payload: Data(#"{"url": "http://x", "method": "GE T"}"#.utf8))
        }
        #expect(throws: TaskPayloadError.self) { try handler.validate(payload: Data(#"{"method": "GET"}"#.utf8)) }
    }

    @Test func aRedirectFromHttpsIsFollowedOnlyToHttps() throws {
        let secure = URL(string: "https://a.example/x")!
        #expect(
            HTTPHandler.refusal(ofRedirectFrom: secure, to: URL(string: "HTTPS://b.example/")!, number: 1, limit: 5)
                == nil)
        #expect(
            HTTPHandler.refusal(ofRedirectFrom: secure, to: URL(string: "http://b.example/")!, number: 1, limit: 5)?
                .contains("from https to http") == true)
        #expect(
            HTTPHandler.refusal(ofRedirectFrom: secure, to: URL(string: "ftp://b.example/")!, number: 1, limit: 5)
                != nil)
        #expect(
            HTTPHandler.refusal(
                ofRedirectFrom: URL(string: "http://a.example/")!, to: URL(string: "https://b.example/")!, number: 5,
                limit: 5) == nil)
        #expect(
            HTTPHandler.refusal(
                ofRedirectFrom: URL(string: "http://a.example/")!, to: URL(string: "http://b.example/")!, number: 6,
                limit: 5) == "more than 5 redirects")
    }
}
