import Foundation
import Hummingbird
import SundialCore
import SundialExecutor

/// An API refusal: the HTTP status, a stable code, a message and the field at fault. The error
/// middleware writes it as the document's `ErrorBody`.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var field: String?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil) {
        (self.status, self.code, self.message, self.field) = (status, code, message, field)
    }

    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }

    /// An admin's refusal, answered by its reason.
    init(_ reason: TaskAdmin.AdminError.Reason, _ message: String, field: String? = nil) {
        switch reason {
        case .invalid: self.init(.unprocessableContent, "invalid", message, field: field)
        case .notFound: self.init(.notFound, "not_found", message, field: field)
        case .conflict: self.init(.conflict, "conflict", message, field: field)
        }
    }
    static func invalid(_ message: String, field: String? = nil) -> APIError {
        APIError(.unprocessableContent, "invalid", message, field: field)
    }

    /// The code that goes with a status, for errors that come with a status only.
    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 409: "conflict"
        case 413: "too_large"
        case 422: "invalid"
        case 429: "too_many_requests"
        case 503: "unavailable"
        default: status.code >= 500 ? "internal" : "bad_request"
        }
    }

    /// The JSON body: `{"error": {"code", "message", "field"}}`.
    var response: Response {
        struct Body: Encodable {
            struct Detail: Encodable {
                var code: String
                var message: String
                var field: String?
            }
            var error: Detail
        }
        let data = (try? JSONEncoder().encode(Body(error: .init(code: code, message: message, field: field)))) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Who is asking, for the generated handlers (which see only their input): set for each API
/// request by `APIContextMiddleware`.
enum APICaller {
    struct Caller: Sendable {
        var identity: ConsoleIdentity?
        var address: String?
    }

    @TaskLocal static var current = Caller()

    static func require(_ role: Role) throws -> ConsoleIdentity {
        guard let identity = current.identity else {
            throw APIError(.unauthorized, "unauthorized", "send `Authorization: Bearer sdl_…` (an API token)")
        }
        guard identity.allows(role) else {
            throw APIError(.forbidden, "forbidden", "the \(identity.role.rawValue) role may not do this")
        }
        return identity
    }
}

/// Sets `APICaller.current` from the request's context for the handlers below it.
struct APIContextMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try await APICaller.$current.withValue(.init(identity: context.identity, address: context.clientAddress)) {
            try await next(request, context)
        }
    }
}
