import Foundation

/// Where a MySQL/MariaDB server is and how to log in, parsed from a URL:
/// `mysql://user:password@host:port/database?socket=/path&pool_max=16`.
///
/// A URL may name several servers, `mysql://u:p@db1:3306,db2:3306/sundial`: the hosts of one
/// replication set or cluster, tried in order (`nodes`). Its description never shows the password.
public struct MySQLEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// One `host:port` of a URL.
    public struct Address: Sendable, Hashable {
        public var host: String
        public var port: Int
        public init(host: String, port: Int = 3306) {
            self.host = host
            self.port = port
        }
    }

    /// The first host: where a single connection goes.
    public var host: String {
        get { addresses[0].host }
        set { addresses[0].host = newValue }
    }
    public var port: Int {
        get { addresses[0].port }
        set { addresses[0].port = newValue }
    }
    /// Every host the URL names, in order (at least one).
    public var addresses: [Address]
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
        self.addresses = [Address(host: host, port: port)]
        self.user = user
        self.password = password
        self.database = database
        self.socket = socket
        self.options = options
    }

    /// Parses a `mysql://` (or `mariadb://`) URL. Errors never repeat the URL (it holds a password).
    public init(url text: String) throws(MySQLConfigurationError) {
        let (single, hosts) = try Self.splittingHosts(text.trimmingCharacters(in: .whitespaces))
        guard let components = URLComponents(string: single) else {
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
        if hosts.count > 1 {
            guard socket == nil else {
                throw MySQLConfigurationError("the database URL names several hosts and a socket: use one or the other")
            }
            addresses = hosts
        }
    }

    /// Cuts `host1:port1,host2:port2` out of the URL's authority: `URLComponents` reads one host.
    /// Returns the URL with the first host only, and every host.
    private static func splittingHosts(_ text: String) throws(MySQLConfigurationError) -> (String, [Address]) {
        guard let schemeEnd = text.range(of: "://") else { return (text, []) }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let hostStart = authority.lastIndex(of: "@").map { authority.index(after: $0) } ?? authority.startIndex
        let hostList = authority[hostStart...]
        guard hostList.contains(",") else { return (text, []) }
        var addresses: [Address] = []
        for item in hostList.split(separator: ",", omittingEmptySubsequences: false) {
            guard let parsed = URLComponents(string: "mysql://x@\(item)/d"), let host = parsed.host, !host.isEmpty
            else {
                throw MySQLConfigurationError(
                    "the database URL's host list has an empty or invalid entry (expected host1:port1,host2:port2)")
            }
            addresses.append(Address(host: host, port: parsed.port ?? 3306))
        }
        let first = hostList.split(separator: ",", omittingEmptySubsequences: false)[0]
        return (String(text[..<hostList.startIndex]) + first + String(rest[authorityEnd...]), addresses)
    }

    /// One endpoint per host, in the URL's order, each with the same credentials and options.
    public var nodes: [MySQLEndpoint] {
        addresses.map { address in
            var node = self
            node.addresses = [address]
            return node
        }
    }

    /// `host:port` (every one, comma-separated) or the socket path: how logs and errors name it.
    public var node: String { socket ?? addresses.map { "\($0.host):\($0.port)" }.joined(separator: ",") }

    public var description: String {
        let credentials = password.isEmpty ? user : "\(user):***"
        let query =
            ([socket.map { "socket=\($0)" }].compactMap { $0 }
                + options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        let hosts = addresses.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        return "mysql://\(credentials)@\(hosts)/\(database)"
            + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }
}

/// A database URL or setting that can't be used, with a message that says which and why.
public struct MySQLConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
