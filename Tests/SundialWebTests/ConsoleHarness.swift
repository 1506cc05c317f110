import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import SundialActions
import SundialCore
import SundialExecutor
import SundialMemoryStore
import SundialWeb
import Testing

/// A console over an in-memory store, with users of each role, driven through Hummingbird's
/// test client as a browser would: cookies kept, CSRF tokens read from the forms.
struct ConsoleHarness {
    static let password = "correct horse battery staple"
    /// bcrypt at cost 12 takes a while: one hash for every test user.
    static let passwordHash = PasswordHasher().hash(password)

    let store: InMemoryStore
    let services: WebServices

    init(logger: Logger = Logger(label: "test")) async throws {
        // The store's clock stands still: the login slowdown and expiries do not depend on how
        // fast a busy machine runs the test.
        store = InMemoryStore(clock: .manual())
        var configuration = WebConfiguration()
        configuration.blockingThreads = 2
        let admin = TaskAdmin(
            store: store, definitions: TaskDefinitions(handlers: HandlerRegistry(liveness: ShellLiveness())))
        services = WebServices(
            admin: admin, threads: BlockingThreads(count: 2), templates: try await Templates.load(),
            configuration: configuration, logger: logger)
        for role in Role.allCases {
            _ = try store.addUser(NewUser(name: role.rawValue, role: role, passwordHash: Self.passwordHash))
        }
    }

    /// Another user with the test password, limited to `tags` when given.
    func addUser(_ name: String, role: Role, tags: Set<String>? = nil) throws {
        _ = try store.addUser(
            NewUser(
                name: name, role: role, scope: tags.map { TaskScope(tags: $0) } ?? .everything,
                passwordHash: Self.passwordHash))
    }

    func test(_ body: @escaping @Sendable (TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: WebApplication.router(services), logger: services.logger)
        try await app.test(.router, body)
    }
}

/// One browser: its cookie and the last CSRF token it saw.
final class Browser: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookie: String?
    var csrf = ""
    /// Signed in (by `signIn`), as far as this browser knows.
    var signedIn = false

    init(_ client: any TestClientProtocol) { self.client = client }

    @discardableResult
    func get(_ uri: String) async throws -> TestResponse {
        try await send(uri, method: .get, body: nil)
    }

    @discardableResult
    func post(_ uri: String, _ fields: [(String, String)], csrf: String? = nil) async throws -> TestResponse {
        let all = [("_csrf", csrf ?? self.csrf)] + fields
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = all.map {
            "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
        return try await send(uri, method: .post, body: body)
    }

    private func send(_ uri: String, method: HTTPRequest.Method, body: String?) async throws -> TestResponse {
        var headers: HTTPFields = [:]
        if let cookie { headers[.cookie] = cookie }
        if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
        let response = try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        if let set = response.headers[.setCookie], let pair = set.split(separator: ";").first {
            // An emptied value or a date in the past is the server ending the session.
            let expired = pair.split(separator: "=", maxSplits: 1).count < 2 || set.contains("Max-Age=0")
            cookie = expired ? nil : String(pair)
        }
        let text = String(buffer: response.body)
        if let range = text.range(of: #"name="_csrf" value="([^"]*)""#, options: .regularExpression) {
            csrf = String(text[range]).components(separatedBy: "value=\"")[1].replacingOccurrences(of: "\"", with: "")
        }
        return response
    }

    /// Signs in; the response to the password form.
    @discardableResult
    func signIn(_ name: String, password: String = ConsoleHarness.password) async throws -> TestResponse {
        try await get("/login")
        let response = try await post("/login", [("name", name), ("password", password), ("next", "/tasks")])
        signedIn = response.status == .seeOther
        return response
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}
