import Foundation

/// One file `NNNN_description.sql` of a migrations directory.
public struct MigrationFile: Sendable, Equatable {
    public let version: Int
    public let name: String
    public let sql: String

    /// Reads every `NNNN_description.sql` in `directory`, ordered by version. Other `.sql` names,
    /// and two files with one version, are errors rather than silently skipped.
    public static func load(from directory: URL) throws(MigrationError) -> [MigrationFile] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw MigrationError(
                "cannot read the migrations directory \(directory.path): \(error.localizedDescription)")
        }
        var files: [MigrationFile] = []
        for name in names.sorted() where name.hasSuffix(".sql") {
            guard let version = Self.version(of: name) else {
                throw MigrationError(
                    "\(name): migration files are named NNNN_description.sql (four or more digits, an underscore, a description)"
                )
            }
            if let clash = files.first(where: { $0.version == version }) {
                throw MigrationError("\(name) and \(clash.name) have the same version \(version)")
            }
            let text: String
            do {
                text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            } catch {
                throw MigrationError("\(name): cannot be read as UTF-8 text")
            }
            files.append(MigrationFile(version: version, name: name, sql: text))
        }
        return files.sorted { $0.version < $1.version }
    }

    static func version(of name: String) -> Int? {
        let stem = name.dropLast(4)
        guard let underscore = stem.firstIndex(of: "_") else { return nil }
        let digits = stem[..<underscore]
        guard digits.count >= 4, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            stem.index(after: underscore) < stem.endIndex
        else { return nil }
        return Int(digits)
    }

    /// The file's statements, split on `;` outside quotes and comments.
    public var statements: [String] { SQLScript.split(sql) }
}

/// Splits a SQL script into statements.
enum SQLScript {
    static func split(_ script: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var quote: Character? = nil
        var chars = Array(script)
        chars.append("\n")
        var i = 0
        while i < chars.count {
            let c = chars[i]
            let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
            if let q = quote {
                current.append(c)
                if c == "\\" && q != "`", let next {
                    current.append(next)
                    i += 2
                    continue
                }
                if c == q { quote = nil }
                i += 1
                continue
            }
            if c == "-" && next == "-" || c == "#" {
                while i < chars.count && chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/" && next == "*" {
                i += 2
                while i + 1 < chars.count && !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
                i += 2
                continue
            }
            if c == "'" || c == "\"" || c == "`" { quote = c }
            if c == ";" {
                let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !trimmed.isEmpty { statements.append(trimmed) }
                current = ""
            } else {
                current.append(c)
            }
            i += 1
        }
        let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !trimmed.isEmpty { statements.append(trimmed) }
        return statements
    }
}

/// A migration problem, in words an operator can act on.
public struct MigrationError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
