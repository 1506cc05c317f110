import Foundation
import Hummingbird
import Logging
import SundialCore

/// Turns failures into answers people can read: a page for the console, JSON with a stable code
/// for the API. A store that cannot be reached is a 503 that says so; a request without a user
/// on a page gets the login form (status 401).
struct ErrorPageMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let templates: Templates
    let login: @Sendable (Request, Context) -> Response

    struct Page {
        var layout: Layout
        var status: Int
        var message: String
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let status: HTTPResponse.Status
        let message: String
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            (status, message) = (error.status, error.body ?? error.status.reasonPhrase)
        } catch let error as StoreError {
            switch error.kind {
            case .invalid: (status, message) = (.conflict, error.message)
            case .rejected: (status, message) = (.badRequest, "The database refused a value: \(error.message)")
            case .notFound: (status, message) = (.notFound, error.message)
            case .conflict, .unavailable, .outcomeUnknown, .readOnly:
                context.logger.error("store call failed", metadata: ["error": "\(error)"])
                (status, message) = (.serviceUnavailable, "The database cannot be used right now; try again shortly.")
            }
        } catch let error as any HTTPResponseError {
            return try error.response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)"])
            (status, message) = (.internalServerError, "Something went wrong; the server's log says what.")
        }
        // A script with a bearer token hears why in words, not a login form.
        if status == .unauthorized, request.method == .get, request.headers[.authorization] == nil {
            return login(request, context)
        }
        let layout = Layout(title: status.reasonPhrase, section: "", context: context)
        return templates.render("error", Page(layout: layout, status: status.code, message: message), status: status)
    }
}
