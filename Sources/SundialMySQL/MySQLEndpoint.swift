import Foundation

/// Where one MySQL/MariaDB server is and how to log in, parsed from a URL:
/// `mysql://user:password@host:port/database?socket=/path&pool_max=16`.
///
/// Its description never shows the password.
public struct MySQLEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var database: String
    /// A Unix socket path; when set, `host` and `port` are not used to connect.
    public var socket: String?
    /// Query parameters other than `socket`: the pool and timeout settings.
    public var options: [String: String]

    public init(
        host: String = "localhost", port: Int = 3306, user: String, password: String = "",
        database: String, socket: String? = nil, options: [String: String] = [:]
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.socket = socket
        self.options = options
    }

    /// Parses a `mysql://` (or `mariadb://`) URL. Errors never repeat the URL (it holds a password).
    public init(url text: String) throws(MySQLConfigurationError) {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)) else {
            throw MySQLConfigurationError(
                "the database URL is not a valid URL (expected mysql://user:password@host:port/database)")
        }
        guard let scheme = components.scheme?.lowercased(), scheme == "mysql" || scheme == "mariadb" else {
            throw MySQLConfigurationError(
                "the database URL must start with mysql:// (expected mysql://user:password@host:port/database)")
        }
        guard let user = components.user, !user.isEmpty else {
            throw MySQLConfigurationError(
                "the database URL has no user name (expected mysql://user:password@host:port/database)")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !database.isEmpty, !database.contains("/") else {
            throw MySQLConfigurationError(
                "the database URL must name one database (expected mysql://user:password@host:port/database)")
        }
        var options: [String: String] = [:]
        var socket: String?
        for item in components.queryItems ?? [] {
            if item.name == "socket" { socket = item.value } else { options[item.name] = item.value ?? "" }
        }
        self.init(
            host: components.host.flatMap { $0.isEmpty ? nil : $0 } ?? "localhost",
            port: components.port ?? 3306,
            user: user, password: components.password ?? "", database: database, socket: socket,
            options: options)
    }

    /// `host:port` or the socket path: how logs and errors name this server.
    public var node: String { socket ?? "\(host):\(port)" }

    public var description: String {
        let credentials = password.isEmpty ? user : "\(user):***"
        let query =
            ([socket.map { "socket=\($0)" }].compactMap { $0 }
                + options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        return "mysql://\(credentials)@\(host):\(port)/\(database)"
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }
}

/// A database URL or setting that can't be used, with a message that says which and why.
public struct MySQLConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
