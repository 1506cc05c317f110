import Hummingbird

/// hummingbird-auth's session middleware takes a session it could not load for no session: a
/// database that blinks would sign everyone out (the login page replaces their cookie). This
/// guard, outside it, hears of such a failure from `StoreSessionDriver` and answers 503 instead,
/// without a cookie.
struct SessionLoadGuard: RouterMiddleware {
    typealias Context = WebRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let failure = SessionLoadFailure()
        let response = try await SessionLoadFailure.$current.withValue(failure) {
            try await next(request, context)
        }
        guard failure.happened else { return response }
        return Response(
            status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8", .retryAfter: "5"],
            body: .init(
                byteBuffer: ByteBuffer(string: "Sundial cannot reach its database right now; try again shortly.\n")))
    }
}

/// Whether loading this request's session failed, told by `StoreSessionDriver`.
final class SessionLoadFailure: @unchecked Sendable {
    // Set and read by the one task that handles the request, in that order.
    var happened = false

    @TaskLocal static var current: SessionLoadFailure?
}
