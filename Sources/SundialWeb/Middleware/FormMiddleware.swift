import Foundation
import Hummingbird

/// Reads a changing request's form (at most 1 MiB) before any handler does, and refuses it (403)
/// unless it carries the session's CSRF token: in the `_csrf` field, or the `X-CSRF-Token`
/// header for scripts. Requests with an API token carry no cookie and need none.
struct FormMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    static let limit = 1 << 20

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.method != .get, request.method != .head else { return try await next(request, context) }
        if case .token = context.identity?.credential {
            // No form to check, but a body as bounded as any other.
            var request = request
            _ = try await request.collectBody(upTo: Self.limit)
            return try await next(request, context)
        }
        // An API call with neither a token nor a signed-in session has no one to check a form for.
        if request.uri.path.hasPrefix("/api/"), context.identity == nil {
            throw HTTPError(.unauthorized, message: "send `Authorization: Bearer sdl_…` (an API token)")
        }
        var request = request
        let body = try await request.collectBody(upTo: Self.limit)
        let form = FormFields(String(buffer: body))
        let sent = request.headers[.init("X-CSRF-Token")!] ?? form["_csrf"] ?? ""
        guard let secret = context.sessions.session?.csrfSecret, CSRFToken.verify(sent, secret: secret) else {
            throw HTTPError(
                .forbidden,
                message: "the form has expired or did not come from this console: reload the page and try again")
        }
        return try await next(request, context)
    }
}

/// `application/x-www-form-urlencoded` fields (a form's body, or the query of a form sent with
/// GET: `+` is a space there); a name given twice keeps every value.
public struct FormFields: Sendable {
    public private(set) var values: [String: [String]] = [:]
    /// Every field in order, as sent.
    public private(set) var pairs: [(String, String)] = []

    public init(_ text: String) {
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode: (Substring) -> String = {
                $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            let (name, value) = (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
            values[name, default: []].append(value)
            pairs.append((name, value))
        }
    }

    public subscript(name: String) -> String? { values[name]?.first }

    public func all(_ name: String) -> [String] { values[name] ?? [] }

    /// A field's value, trimmed, nil when empty.
    public func text(_ name: String) -> String? {
        guard let value = self[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            return nil
        }
        return value
    }

    /// The request's form; call after `FormMiddleware` has collected the body.
    public static func of(_ request: Request) async throws -> FormFields {
        var request = request
        return FormFields(String(buffer: try await request.collectBody(upTo: FormMiddleware.limit)))
    }
}

extension Request {
    /// The query's fields as a browser's GET form sends them (`+` is a space).
    var queryFields: FormFields { FormFields(uri.query ?? "") }
}
