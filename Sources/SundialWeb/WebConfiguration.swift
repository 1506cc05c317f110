import Foundation
import SundialCore

/// The web console's and the API's settings, with defaults for a local installation.
public struct WebConfiguration: Sendable {
    /// Where to listen (`--listen`, default 127.0.0.1:8080).
    public var host = "127.0.0.1"
    public var port = 8080
    /// The address people use (`--public-url`): an `https` one makes the session cookie `Secure`.
    public var publicURL = URL(string: "http://127.0.0.1:8080")!
    /// How long a session lasts without being used again.
    public var sessionLifetime: Duration = .seconds(12 * 3600)
    /// A session not signed in yet (the login form's CSRF secret) lasts this long.
    public var anonymousSessionLifetime: Duration = .seconds(3600)
    /// bcrypt's cost for new passwords (at least 12).
    public var bcryptCost: UInt8 = 12
    /// How long a new API token lives unless its maker says otherwise.
    public var tokenLifetime: Duration = .seconds(90 * 86_400)
    /// Threads for blocking database calls and bcrypt, apart from the event loops.
    public var blockingThreads = 8

    public init() {}

    /// Whether cookies carry `Secure`.
    public var secureCookies: Bool { publicURL.scheme?.lowercased() == "https" }

    /// Reads `HOST:PORT` (or `:PORT` for every interface).
    public mutating func listen(_ text: String) throws {
        do {
            let address = try ListenAddress(text, flag: "--web-listen", example: "127.0.0.1:8080")
            (host, port) = (address.host, address.port)
        } catch {
            throw WebError.badSetting(error.description)
        }
    }

}

/// A bad setting or a refused request, in words for the person who asked.
public enum WebError: Error, CustomStringConvertible, Sendable {
    case badSetting(String)

    public var description: String {
        switch self {
        case .badSetting(let message): message
        }
    }
}
