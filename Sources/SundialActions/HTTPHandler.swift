import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `http`: `{"method": "POST", "url": "https://…", "headers": {…}, "body": "…",
/// "expect_status": [200, 204], "timeout": 30}`. Succeeds when the response status is expected
/// (any 2xx by default); the response body is the run's output.
public struct HTTPHandler: TaskHandler {
    struct Settings: Decodable {
        var method: String?
        var url: String
        var headers: [String: String]?
        var body: String?
        var expectStatus: ExpectedStatus?
        var timeout: Double?

        enum CodingKeys: String, CodingKey {
            case method, url, headers, body, timeout
            case expectStatus = "expect_status"
        }
    }

    enum ExpectedStatus: Decodable {
        case one(Int)
        case list([Int])

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let code = try? container.decode(Int.self) {
                self = .one(code)
            } else {
                self = .list(try container.decode([Int].self))
            }
        }

        func contains(_ code: Int) -> Bool {
            switch self {
            case .one(let expected): return code == expected
            case .list(let expected): return expected.contains(code)
            }
        }
    }

    public var outputLimit = 64 * 1024

    public init() {}

    public func validate(payload: Data) throws {
        let settings = try Payload.decode(Settings.self, from: payload)
        guard let url = URL(string: settings.url), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", url.host != nil
        else {
            throw TaskPayloadError("payload: url must be an http:// or https:// URL")
        }
        if let method = settings.method,
            method.isEmpty || !method.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "-") })
        {
            throw TaskPayloadError("payload: method \(method) is not an HTTP method")
        }
        if let timeout = settings.timeout, !(timeout > 0) { throw TaskPayloadError("payload: timeout must be above 0") }
    }

    public func run(_ context: RunContext) throws -> RunOutput {
        let settings = try Payload.decode(Settings.self, from: context.payload)
        guard let url = URL(string: settings.url) else { throw RunFailure("payload: url is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = (settings.method ?? "GET").uppercased()
        request.timeoutInterval = settings.timeout ?? context.timeout ?? 60
        for (name, value) in settings.headers ?? [:] { request.setValue(value, forHTTPHeaderField: name) }
        if let body = settings.body { request.httpBody = Data(body.utf8) }

        let result = ResultBox()
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request) { data, response, error in
            result.set(data: data, response: response as? HTTPURLResponse, error: error)
        }
        context.onCancel { _ in task.cancel() }
        task.resume()
        let (data, response, error) = result.wait()

        var output = BoundedOutput(limit: outputLimit)
        (data ?? Data()).withUnsafeBytes { output.append($0) }
        if let reason = context.cancelReason {
            if reason == .timedOut { throw RunTimedOut(output: output.text) }
            throw RunKilled(output: output.text)
        }
        if let error {
            if (error as NSError).code == NSURLErrorTimedOut { throw RunTimedOut() }
            throw RunFailure("\(request.httpMethod ?? "GET") \(url.host ?? ""): \(error.localizedDescription)")
        }
        guard let response else { throw RunFailure("no HTTP response") }
        let expected = settings.expectStatus
        let ok = expected?.contains(response.statusCode) ?? (200..<300).contains(response.statusCode)
        guard ok else {
            throw RunFailure("HTTP status \(response.statusCode)", exitCode: response.statusCode, output: output.text)
        }
        return RunOutput(exitCode: response.statusCode, output: output.text)
    }

    private final class ResultBox: @unchecked Sendable {
        private let condition = NSCondition()
        private var done = false
        private var data: Data?
        private var response: HTTPURLResponse?
        private var error: Error?

        func set(data: Data?, response: HTTPURLResponse?, error: Error?) {
            condition.lock()
            (self.data, self.response, self.error, done) = (data, response, error, true)
            condition.broadcast()
            condition.unlock()
        }

        func wait() -> (Data?, HTTPURLResponse?, Error?) {
            condition.lock()
            defer { condition.unlock() }
            while !done { condition.wait() }
            return (data, response, error)
        }
    }
}
