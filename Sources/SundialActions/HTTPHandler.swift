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

    /// Bytes of the response kept as output (head and tail).
    public var outputLimit = 64 * 1024
    /// Bytes of a response body read at most: past this the run fails and the transfer stops.
    public var bodyLimit = 64 * 1024 * 1024
    /// Redirects followed at most; a redirect from https to http is never followed.
    public var redirectLimit = 5

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
        if let timeout = settings.timeout, !(timeout > 0 && timeout.isFinite) {
            throw TaskPayloadError("payload: timeout must be above 0")
        }
    }

    /// Streams the response into bounded output: memory stays at `outputLimit` whatever the body.
    public func run(_ context: RunContext) throws -> RunOutput {
        let settings = try Payload.decode(Settings.self, from: context.payload)
        guard let url = URL(string: settings.url) else { throw RunFailure("payload: url is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = (settings.method ?? "GET").uppercased()
        request.timeoutInterval = min(settings.timeout ?? context.timeout ?? 60, 86_400 * 365)
        for (name, value) in settings.headers ?? [:] { request.setValue(value, forHTTPHeaderField: name) }
        if let body = settings.body { request.httpBody = Data(body.utf8) }

        let transfer = Transfer(outputLimit: outputLimit, bodyLimit: bodyLimit, redirectLimit: redirectLimit)
        let session = URLSession(configuration: .ephemeral, delegate: transfer, delegateQueue: nil)
        defer { session.invalidateAndCancel() }
        let task = session.dataTask(with: request)
        context.onCancel { _ in task.cancel() }
        task.resume()
        let ended = transfer.wait()

        let text = ended.output
        if let reason = context.cancelReason {
            if reason == .timedOut { throw RunTimedOut(output: text) }
            throw RunKilled(output: text)
        }
        if let refusal = ended.refusal { throw RunFailure(refusal, output: text) }
        if let error = ended.error {
            if (error as NSError).code == NSURLErrorTimedOut { throw RunTimedOut(output: text) }
            throw RunFailure("\(request.httpMethod ?? "GET") \(url.host ?? ""): \(error.localizedDescription)")
        }
        guard let response = ended.response else { throw RunFailure("no HTTP response") }
        let expected = settings.expectStatus
        let ok = expected?.contains(response.statusCode) ?? (200..<300).contains(response.statusCode)
        guard ok else {
            throw RunFailure("HTTP status \(response.statusCode)", exitCode: response.statusCode, output: text)
        }
        return RunOutput(exitCode: response.statusCode, output: text)
    }

    /// Why the `number`th redirect of a request, from `from` to `to`, is not followed (nil: it
    /// is): never from https to anything else, never past `limit`.
    static func refusal(ofRedirectFrom from: URL?, to: URL?, number: Int, limit: Int) -> String? {
        if from?.scheme?.lowercased() == "https" && to?.scheme?.lowercased() != "https" {
            return "refused a redirect from https to \(to?.scheme ?? "?") (\(to?.host ?? "?"))"
        }
        return number > limit ? "more than \(limit) redirects" : nil
    }

    /// One request's delegate: the body into bounded output, the redirect policy, the end.
    private final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
        struct Ended {
            var response: HTTPURLResponse?
            var error: Error?
            /// Why Sundial stopped the transfer (body too large, a refused redirect).
            var refusal: String?
            var output: String
        }

        private let condition = NSCondition()
        private var done = false
        private var output: BoundedOutput
        private var received = 0
        private var redirects = 0
        private var response: HTTPURLResponse?
        private var error: Error?
        private var refusal: String?
        let bodyLimit: Int
        let redirectLimit: Int

        init(outputLimit: Int, bodyLimit: Int, redirectLimit: Int) {
            output = BoundedOutput(limit: outputLimit)
            self.bodyLimit = bodyLimit
            self.redirectLimit = redirectLimit
        }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            condition.lock()
            self.response = response as? HTTPURLResponse
            condition.unlock()
            completionHandler(.allow)
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            condition.lock()
            received += data.count
            let over = received > bodyLimit
            if over {
                refusal = refusal ?? "the response body is larger than \(bodyLimit) bytes; stopped reading"
            } else {
                data.withUnsafeBytes { output.append($0) }
            }
            condition.unlock()
            if over { dataTask.cancel() }
        }

        func urlSession(
            _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
            newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void
        ) {
            condition.lock()
            redirects += 1
            refusal = HTTPHandler.refusal(
                ofRedirectFrom: task.currentRequest?.url ?? task.originalRequest?.url, to: request.url,
                number: redirects, limit: redirectLimit)
            let follow = refusal == nil
            condition.unlock()
            if follow {
                completionHandler(request)
            } else {
                completionHandler(nil)
                task.cancel()
            }
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            condition.lock()
            self.error = error
            done = true
            condition.broadcast()
            condition.unlock()
        }

        func wait() -> Ended {
            condition.lock()
            defer { condition.unlock() }
            while !done { condition.wait() }
            return Ended(response: response, error: refusal == nil ? error : nil, refusal: refusal, output: output.text)
        }
    }
}
