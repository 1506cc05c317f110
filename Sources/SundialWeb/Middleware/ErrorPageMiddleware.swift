import Foundation
import Hummingbird
import Logging
import OpenAPIRuntime
import SundialCore

/// Turns failures into answers people can read: a page for the console, JSON with a stable code
/// for the API (`/api/…`). A store that cannot be reached is a 503 that says so; a request
/// without a user on a page gets the login form (status 401).
struct ErrorPageMiddleware: RouterMiddleware {
    typealias Context = WebRequestContext
    let templates: Templates
    let apiRoutes: APIRoutes
    let login: @Sendable (Request, Context) -> Response

    struct Page {
        var layout: Layout
        var status: Int
        var message: String
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let failure: APIError
        do {
            let response = try await next(request, context)
            // The router's own 404 and 405 come back as responses: the API's get its JSON.
            guard request.uri.path.hasPrefix("/api/"), response.status.code >= 400,
                response.headers[.contentType]?.hasPrefix("application/json") != true
            else { return response }
            failure = APIError(
                response.status, APIError.code(for: response.status), response.status.reasonPhrase)
        } catch {
            failure = Self.describe(error, logger: context.logger)
        }
        if request.uri.path.hasPrefix("/api/") {
            // A path the API has, asked with a method it does not take.
            if failure.status == .notFound, let methods = apiRoutes.methods(for: request.uri.path),
                !methods.contains(request.method.rawValue)
            {
                var refused = APIError(
                    .methodNotAllowed, "method_not_allowed",
                    "\(request.method.rawValue) is not one of \(methods.joined(separator: ", ")) here"
                ).response
                refused.headers[.allow] = methods.joined(separator: ", ")
                return refused
            }
            return failure.response
        }
        if failure.status == .unauthorized, request.method == .get, request.headers[.authorization] == nil {
            return login(request, context)
        }
        let layout = Layout(title: failure.status.reasonPhrase, section: "", context: context)
        return templates.render(
            "error", Page(layout: layout, status: failure.status.code, message: failure.message), status: failure.status
        )
    }

    /// What went wrong, as a status, a code and words; internal details go to the log only.
    static func describe(_ error: any Error, logger: Logger) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as ServerError:
            // The generated API code wraps what the handlers throw, and reads the request itself.
            switch error.underlyingError {
            case is APIError, is HTTPError, is StoreError: return describe(error.underlyingError, logger: logger)
            default:
                // Before the handler had its input: the request did not fit the document.
                if error.operationInput == nil || error.httpStatus != .internalServerError {
                    let status = error.httpStatus == .internalServerError ? .badRequest : error.httpStatus
                    return APIError(
                        status, APIError.code(for: status),
                        "the request does not fit the API: \(error.causeDescription)")
                }
                logger.error("API request failed", metadata: ["error": "\(error)"])
                return APIError(.internalServerError, "internal", "something went wrong; the server's log says what")
            }
        case let error as HTTPError:
            return APIError(error.status, APIError.code(for: error.status), error.body ?? error.status.reasonPhrase)
        case let error as StoreError:
            switch error.kind {
            case .invalid: return APIError(.conflict, "conflict", error.message)
            case .rejected:
                return APIError(.badRequest, "bad_request", "the database refused a value: \(error.message)")
            case .notFound: return APIError.notFound(error.message)
            case .conflict, .unavailable, .outcomeUnknown, .readOnly:
                logger.error("store call failed", metadata: ["error": "\(error)"])
                return APIError(
                    .serviceUnavailable, "unavailable", "the database cannot be used right now; try again shortly")
            }
        case let error as any HTTPResponseError:
            return APIError(error.status, APIError.code(for: error.status), error.status.reasonPhrase)
        default:
            logger.error("request failed", metadata: ["error": "\(error)"])
            return APIError(.internalServerError, "internal", "something went wrong; the server's log says what")
        }
    }
}
