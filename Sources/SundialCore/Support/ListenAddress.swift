/// Where a server listens, from `HOST:PORT` (`:PORT` or `[::]:PORT` alike): the operations
/// endpoints' `--listen` and the console's `--web-listen`.
public struct ListenAddress: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        (self.host, self.port) = (host, port)
    }

    /// Parses `HOST:PORT`; an empty host is every interface. `flag`, `example` and what else the
    /// flag takes (`alternative`) go into the refusal.
    public init(_ text: String, flag: String, example: String, alternative: String? = nil) throws(ListenAddressError) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else {
            throw ListenAddressError(
                description:
                    "\(flag) takes HOST:PORT (e.g. \(example))\(alternative.map { " or \($0)" } ?? ""), not '\(text)'"
            )
        }
        let host = String(text[..<colon]).trimmingCharacters(in: ["[", "]"])
        self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }
}

/// A listen address that cannot be read.
public struct ListenAddressError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        String(drop(while: set.contains).reversed().drop(while: set.contains).reversed())
    }
}
