import CMariaDB

/// A failed database call.
///
/// `kind` tells a caller what to do about it. The message names the node and the statement's first
/// words, never its parameters, and server messages that echo values (duplicate keys, bad values)
/// have them removed.
public struct MySQLError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Transient: a deadlock, a lock-wait timeout, a lost or refused connection. Try again later.
        case retryLater
        /// The statement is wrong: syntax, unknown table or column, wrong parameter count.
        case badStatement
        /// A constraint refused the data: duplicate key, foreign key, NOT NULL, CHECK.
        case constraintViolated
        /// The node refuses writes: read-only (`--read-only`, a replica) or a Galera node outside the
        /// primary component (error 1047). It refused before doing anything.
        case readOnly
        /// The statement was sent and the answer does not say whether it took effect: a COMMIT that
        /// failed other than by a conflict (which certainly rolled back).
        case outcomeUnknown
        /// No connection became free within the pool's acquire timeout.
        case poolExhausted
        /// Credentials, privileges, configuration: retrying will not help.
        case refused
    }

    public let kind: Kind
    /// The server's or the client library's error number (0 for Sundial's own).
    public let code: Int
    /// `host:port` or the socket path.
    public let node: String
    /// The first words of the statement, or the operation ("connect", "ping").
    public let statement: String
    public let message: String

    public init(kind: Kind, code: Int, node: String, statement: String, message: String) {
        self.kind = kind
        self.code = code
        self.node = node
        self.statement = statement
        self.message = message
    }

    public var description: String {
        let codeText = code == 0 ? "" : " (error \(code))"
        return "\(node): \(statement): \(message)\(codeText)"
    }

    /// The same error as a node's refusal (a Galera node outside the primary component, found out
    /// by a read that timed out waiting for the cluster): nothing was done, another node may.
    var asRefusal: MySQLError {
        guard kind != .readOnly else { return self }
        return MySQLError(
            kind: .readOnly, code: 1047, node: node, statement: statement,
            message: "the Galera node is outside the cluster's primary component (\(message))")
    }

    /// The same error, saying that the statement may have taken effect.
    var withUnknownOutcome: MySQLError {
        guard kind != .outcomeUnknown else { return self }
        return MySQLError(
            kind: .outcomeUnknown, code: code, node: node, statement: statement,
            message: "\(message); whether it committed is unknown")
    }

    /// The connection this happened on can't be used again: the server went away or killed it.
    public var isConnectionBroken: Bool { Self.brokenConnectionCodes.contains(code) }

    /// A deadlock or lock-wait timeout: the whole transaction may be retried.
    public var isTransactionConflict: Bool { code == 1213 || code == 1205 }

    /// The server certainly did not run the statement, so it is safe to send it again elsewhere.
    public var certainlyNotExecuted: Bool {
        code == 1927 || code == 4031 || code == 2002 || code == 2003 || code == 1053
    }

    static let brokenConnectionCodes: Set<Int> = [
        2006,  // server has gone away
        2013,  // lost connection during query
        2055,  // lost connection (extended)
        2002, 2003,  // can't connect
        1927,  // connection was killed
        4031,  // disconnected for inactivity
        1053,  // server shutdown in progress
        2014,  // commands out of sync: the connection's protocol state is unknown
        2026,  // SSL error
    ]

    static func kind(forCode code: Int) -> Kind {
        switch code {
        case 1213, 1205, 1040, 1053, 1927, 4031, 2002, 2003, 2006, 2013, 2055, 2014, 2026, 1317, 3024, 1969:
            return .retryLater
        case 1290, 1836, 1792, 1223, 1047:
            return .readOnly
        case 1062, 1451, 1452, 1048, 4025, 3819, 1364, 1586, 1557, 1169, 1216, 1217:
            return .constraintViolated
        case 1044, 1045, 1142, 1143, 1227, 1698, 1049, 2005, 2059, 1251:
            return .refused
        default:
            return .badStatement
        }
    }

    /// Server messages quote the offending value for some errors; keep the shape, drop the value.
    static func redacted(_ message: String, code: Int) -> String {
        let markers: [String]
        switch code {
        case 1062, 1586: markers = ["entry '"]
        case 1366, 1292, 1265, 1411: markers = ["value: '", "value '"]
        default: return message
        }
        for marker in markers {
            guard let start = message.range(of: marker) else { continue }
            let rest = message[start.upperBound...]
            // The value ends at the last "' for" (values may contain quotes themselves).
            let end = rest.range(of: "' for ", options: .backwards)?.lowerBound ?? rest.lastIndex(of: "'")
            guard let end else { continue }
            return String(message[..<start.upperBound]) + "…" + String(rest[end...])
        }
        return message
    }

    /// The first words of a statement: enough to find it in the code, too little to leak data.
    static func summary(of sql: String) -> String {
        var words: [Substring] = []
        var length = 0
        for word in sql.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }) {
            if words.count == 4 || length + word.count > 48 { break }
            words.append(word)
            length += word.count + 1
        }
        let text = words.joined(separator: " ")
        return text.isEmpty ? String(sql.prefix(24)) : text
    }
}
