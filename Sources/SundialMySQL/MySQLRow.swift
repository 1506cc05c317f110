/// One result row. Column lookups by name go through a table shared by every row of a result.
public struct MySQLRow: Sendable {
    public let columns: MySQLColumns
    public let values: [MySQLValue]

    public init(columns: MySQLColumns, values: [MySQLValue]) {
        self.columns = columns
        self.values = values
    }

    /// The value of a column by name, `.null` if the result has no such column.
    public subscript(_ name: String) -> MySQLValue {
        guard let i = columns.index[name] else { return .null }
        return values[i]
    }

    public subscript(_ position: Int) -> MySQLValue { values[position] }
}

/// The column names of a result, with an index for lookups by name.
public final class MySQLColumns: Sendable {
    public let names: [String]
    let index: [String: Int]

    public init(names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}

/// What a write reports.
public struct MySQLExecuteResult: Sendable, Equatable {
    /// Rows changed (MySQL counts rows matched but unchanged as 0).
    public var affectedRows: Int
    /// The AUTO_INCREMENT id the statement generated, or 0.
    public var lastInsertID: Int
}
