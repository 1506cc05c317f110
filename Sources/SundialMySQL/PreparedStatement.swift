import CMariaDB
import Foundation

/// One server-side prepared statement and the buffers its parameters and results travel in.
///
/// Not thread-safe: it belongs to one `MySQLConnection`, which is used by one thread at a time.
final class PreparedStatement {
    let handle: UnsafeMutablePointer<MYSQL_STMT>
    let sql: String
    let parameterCount: Int
    private var results: ResultBuffers?
    private let parameters: ParameterBuffers
    var lastUsed: UInt64 = 0

    init(handle: UnsafeMutablePointer<MYSQL_STMT>, sql: String) {
        self.handle = handle
        self.sql = sql
        self.parameterCount = Int(mysql_stmt_param_count(handle))
        self.parameters = ParameterBuffers(count: parameterCount)
    }

    deinit {
        results = nil
        mysql_stmt_close(handle)
    }

    /// The error the statement handle reports now.
    func error(node: String) -> MySQLError {
        var code = Int(mysql_stmt_errno(handle))
        var message = String(cString: mysql_stmt_error(handle))
        // An error packet in the middle of a result (a Galera brute-force abort while rows stream)
        // is left on the connection, not on the statement.
        if code == 0, let connection = handle.pointee.mysql, mysql_errno(connection) != 0 {
            code = Int(mysql_errno(connection))
            message = String(cString: mysql_error(connection))
        }
        if code == 0 {
            // Neither says why: the session's state is unknown, so it is not used again.
            code = 2013
            message = "the statement failed and neither the server nor the client library said why"
        }
        return MySQLError(
            kind: MySQLError.kind(forCode: code), code: code, node: node, statement: MySQLError.summary(of: sql),
            message: MySQLError.redacted(message, code: code))
    }

    /// Binds the parameters and runs the statement. Returns the number of result columns.
    func execute(_ parameters: [MySQLValue], node: String) throws(MySQLError) -> Int {
        guard parameters.count == parameterCount else {
            throw MySQLError(
                kind: .badStatement, code: 0, node: node, statement: MySQLError.summary(of: sql),
                message: "the statement has \(parameterCount) placeholders but \(parameters.count) values were given")
        }
        if parameterCount > 0 {
            self.parameters.fill(parameters)
            if mysql_stmt_bind_param(handle, self.parameters.binds) != 0 { throw error(node: node) }
        }
        if mysql_stmt_execute(handle) != 0 { throw error(node: node) }
        return Int(mysql_stmt_field_count(handle))
    }

    var affectedRows: Int { Int(truncatingIfNeeded: mysql_stmt_affected_rows(handle)) }
    var insertID: Int { Int(truncatingIfNeeded: mysql_stmt_insert_id(handle)) }

    /// Reads the result set row by row, straight off the connection, and frees it afterwards.
    func fetchRows(node: String, _ body: (MySQLRow) throws -> Void) throws {
        defer { mysql_stmt_free_result(handle) }
        let buffers = try resultBuffers(node: node)
        if mysql_stmt_bind_result(handle, buffers.binds) != 0 { throw error(node: node) }
        while true {
            let rc = mysql_stmt_fetch(handle)
            if rc == MYSQL_NO_DATA { return }
            if rc == 1 { throw error(node: node) }
            var values: [MySQLValue] = []
            values.reserveCapacity(buffers.count)
            for i in 0..<buffers.count {
                values.append(try buffers.value(at: i, statement: handle, truncated: rc == MYSQL_DATA_TRUNCATED))
            }
            try body(MySQLRow(columns: buffers.columns, values: values))
        }
    }

    /// Result buffers, rebuilt when the result's shape changes (a table altered under a cached
    /// statement). Reads the handle's field list directly: asking for a metadata copy per execution
    /// costs allocations on the hottest path.
    private func resultBuffers(node: String) throws(MySQLError) -> ResultBuffers {
        let count = Int(handle.pointee.field_count)
        guard let fields = handle.pointee.fields else {
            throw MySQLError(
                kind: .badStatement, code: 0, node: node, statement: MySQLError.summary(of: sql),
                message: "the statement returns no rows to read")
        }
        if let results, results.count == count,
            (0..<count).allSatisfy({ results.shapes[$0] == ColumnShape(field: fields[$0]) })
        {
            return results
        }
        let shapes = (0..<count).map { ColumnShape(field: fields[$0]) }
        let names = (0..<count).map { String(cString: fields[$0].name) }
        let buffers = ResultBuffers(shapes: shapes, columns: MySQLColumns(names: names))
        results = buffers
        return buffers
    }
}

/// How a result column is fetched: the C type it is bound as, and how to turn it into a value.
struct ColumnShape: Equatable {
    enum Storage: Equatable { case integer(unsigned: Bool), double, dateTime, text, binary }
    let storage: Storage

    init(field: MYSQL_FIELD) {
        switch field.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24,
            MYSQL_TYPE_YEAR:
            storage = .integer(unsigned: field.flags & UInt32(UNSIGNED_FLAG) != 0)
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            storage = .double
        case MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP, MYSQL_TYPE_DATE:
            storage = .dateTime
        case MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY:
            storage = .binary
        case MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_LONG_BLOB, MYSQL_TYPE_BLOB,
            MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_STRING:
            // Character set 63 is "binary": BLOB, VARBINARY, BINARY.
            storage = field.charsetnr == 63 ? .binary : .text
        default:
            storage = .text
        }
    }
}

/// The MYSQL_BIND array and the memory it points into, for one result shape.
final class ResultBuffers {
    let shapes: [ColumnShape]
    let columns: MySQLColumns
    let count: Int
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let lengths: UnsafeMutablePointer<UInt>
    private let nulls: UnsafeMutablePointer<my_bool>
    private let errors: UnsafeMutablePointer<my_bool>
    private var storage: [UnsafeMutableRawPointer]
    private static let initialTextCapacity = 256

    init(shapes: [ColumnShape], columns: MySQLColumns) {
        self.shapes = shapes
        self.columns = columns
        count = shapes.count
        binds = .allocate(capacity: max(count, 1))
        binds.initialize(repeating: MYSQL_BIND(), count: max(count, 1))
        lengths = .allocate(capacity: max(count, 1))
        lengths.initialize(repeating: 0, count: max(count, 1))
        nulls = .allocate(capacity: max(count, 1))
        nulls.initialize(repeating: 0, count: max(count, 1))
        errors = .allocate(capacity: max(count, 1))
        errors.initialize(repeating: 0, count: max(count, 1))
        storage = []
        for (i, shape) in shapes.enumerated() {
            let size: Int
            switch shape.storage {
            case .integer(let unsigned):
                size = 8
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].is_unsigned = unsigned ? 1 : 0
            case .double:
                size = 8
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
            case .dateTime:
                size = MemoryLayout<MYSQL_TIME>.stride
                binds[i].buffer_type = MYSQL_TYPE_DATETIME
            case .text, .binary:
                size = Self.initialTextCapacity
                binds[i].buffer_type = shape.storage == .text ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB
            }
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            storage.append(buffer)
            binds[i].buffer = buffer
            binds[i].buffer_length = UInt(size)
            binds[i].length = lengths + i
            binds[i].is_null = nulls + i
            binds[i].error = errors + i
        }
    }

    deinit {
        storage.forEach { $0.deallocate() }
        binds.deallocate()
        lengths.deallocate()
        nulls.deallocate()
        errors.deallocate()
    }

    func value(
        at i: Int, statement: UnsafeMutablePointer<MYSQL_STMT>, truncated: Bool
    ) throws -> MySQLValue {
        if nulls[i] != 0 { return .null }
        let buffer = storage[i]
        switch shapes[i].storage {
        case .integer(let unsigned):
            if unsigned {
                let v = buffer.load(as: UInt64.self)
                return v <= UInt64(Int64.max) ? .int(Int64(v)) : .uint(v)
            }
            return .int(buffer.load(as: Int64.self))
        case .double:
            return .double(buffer.load(as: Double.self))
        case .dateTime:
            return MySQLTime.value(buffer.load(as: MYSQL_TIME.self))
        case .text, .binary:
            let length = Int(lengths[i])
            let bytes: [UInt8]
            if truncated && errors[i] != 0 {
                bytes = try refetch(column: i, length: length, statement: statement)
            } else {
                bytes = Array(UnsafeRawBufferPointer(start: buffer, count: length))
            }
            return shapes[i].storage == .text ? .string(String(decoding: bytes, as: UTF8.self)) : .bytes(bytes)
        }
    }

    /// A value longer than its buffer: fetch the whole column into a buffer of the right size.
    private func refetch(column i: Int, length: Int, statement: UnsafeMutablePointer<MYSQL_STMT>) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        var actual: UInt = 0
        var isNull: my_bool = 0
        let rc = bytes.withUnsafeMutableBytes { raw -> Int32 in
            var bind = MYSQL_BIND()
            bind.buffer_type = binds[i].buffer_type
            bind.buffer = raw.baseAddress
            bind.buffer_length = UInt(length)
            return withUnsafeMutablePointer(to: &actual) { actualPointer in
                withUnsafeMutablePointer(to: &isNull) { nullPointer in
                    bind.length = actualPointer
                    bind.is_null = nullPointer
                    return mysql_stmt_fetch_column(statement, &bind, UInt32(i), 0)
                }
            }
        }
        if rc != 0 {
            throw MySQLError(
                kind: .retryLater, code: Int(mysql_stmt_errno(statement)), node: "", statement: "fetch",
                message: String(cString: mysql_stmt_error(statement)))
        }
        return bytes
    }
}

/// The MYSQL_BIND array for a statement's parameters and the bytes it points at, reused across
/// executions and grown when a value needs more room.
final class ParameterBuffers {
    let binds: UnsafeMutablePointer<MYSQL_BIND>
    private let count: Int
    private let lengths: UnsafeMutablePointer<UInt>
    /// Fixed-size slots (integers, doubles, times), one per parameter.
    private let slots: UnsafeMutableRawPointer
    /// Strings and bytes, packed.
    private var bytes: UnsafeMutableRawPointer
    private var bytesCapacity = 256
    private static let slotSize = max(16, MemoryLayout<MYSQL_TIME>.stride)

    init(count: Int) {
        self.count = count
        binds = .allocate(capacity: max(count, 1))
        lengths = .allocate(capacity: max(count, 1))
        lengths.initialize(repeating: 0, count: max(count, 1))
        slots = .allocate(byteCount: max(count, 1) * Self.slotSize, alignment: 16)
        bytes = .allocate(byteCount: bytesCapacity, alignment: 16)
    }

    deinit {
        binds.deallocate()
        lengths.deallocate()
        slots.deallocate()
        bytes.deallocate()
    }

    func fill(_ values: [MySQLValue]) {
        var needed = 0
        for value in values {
            switch value {
            case .string(let s): needed += s.utf8.count
            case .bytes(let b): needed += b.count
            default: break
            }
        }
        if needed > bytesCapacity {
            bytes.deallocate()
            bytesCapacity = max(needed, bytesCapacity * 2)
            bytes = .allocate(byteCount: bytesCapacity, alignment: 16)
        }
        binds.initialize(repeating: MYSQL_BIND(), count: count)
        var cursor = 0
        for (i, value) in values.enumerated() {
            let slot = slots + i * Self.slotSize
            binds[i].buffer = slot
            switch value {
            case .null:
                binds[i].buffer_type = MYSQL_TYPE_NULL
            case .int(let v):
                slot.storeBytes(of: v, as: Int64.self)
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
            case .uint(let v):
                slot.storeBytes(of: v, as: UInt64.self)
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
                binds[i].is_unsigned = 1
            case .bool(let v):
                slot.storeBytes(of: v ? 1 : 0, as: Int64.self)
                binds[i].buffer_type = MYSQL_TYPE_LONGLONG
            case .double(let v):
                slot.storeBytes(of: v, as: Double.self)
                binds[i].buffer_type = MYSQL_TYPE_DOUBLE
            case .date(let d):
                slot.storeBytes(of: MySQLTime.time(d), as: MYSQL_TIME.self)
                binds[i].buffer_type = MYSQL_TYPE_DATETIME
            case .string(var s):
                s.withUTF8 { utf8 in place(i, MYSQL_TYPE_STRING, UnsafeRawBufferPointer(utf8), at: &cursor) }
            case .bytes(let b):
                b.withUnsafeBytes { raw in place(i, MYSQL_TYPE_BLOB, raw, at: &cursor) }
            }
        }
    }

    /// Copies variable-length bytes into the packed area and points parameter `i` at them.
    private func place(_ i: Int, _ type: enum_field_types, _ source: UnsafeRawBufferPointer, at cursor: inout Int) {
        let target = bytes + cursor
        if let base = source.baseAddress { target.copyMemory(from: base, byteCount: source.count) }
        cursor += source.count
        binds[i].buffer_type = type
        binds[i].buffer = target
        binds[i].buffer_length = UInt(source.count)
        lengths[i] = UInt(source.count)
        binds[i].length = lengths + i
    }
}

/// `MYSQL_TIME` ⇄ `Date`, in UTC, to the microsecond.
enum MySQLTime {
    /// What DATETIME(6) holds: 1000-01-01 to 9999-12-31, in UTC.
    static let storable =
        Date(timeIntervalSince1970: -30_610_224_000)...Date(timeIntervalSince1970: 253_402_300_799.999_999)

    /// Never traps: dates outside `storable` are refused before binding, and clamped here anyway.
    static func time(_ input: Date) -> MYSQL_TIME {
        let date = min(max(input, storable.lowerBound), storable.upperBound)
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        var seconds = Int(micros / 1_000_000)
        var fraction = Int(micros) - seconds * 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        var parts = tm()
        var t = time_t(seconds)
        gmtime_r(&t, &parts)
        var value = MYSQL_TIME()
        value.year = UInt32(clamping: parts.tm_year + 1900)
        value.month = UInt32(clamping: parts.tm_mon + 1)
        value.day = UInt32(clamping: parts.tm_mday)
        value.hour = UInt32(clamping: parts.tm_hour)
        value.minute = UInt32(clamping: parts.tm_min)
        value.second = UInt32(clamping: parts.tm_sec)
        value.second_part = UInt(fraction)
        value.time_type = MYSQL_TIMESTAMP_DATETIME
        return value
    }

    static func value(_ time: MYSQL_TIME) -> MySQLValue {
        // A zero date ("0000-00-00") is no instant.
        if time.year == 0 && time.month == 0 && time.day == 0 { return .null }
        var parts = tm()
        parts.tm_year = Int32(clamping: time.year) - 1900
        parts.tm_mon = Int32(clamping: time.month) - 1
        parts.tm_mday = Int32(clamping: time.day)
        parts.tm_hour = Int32(clamping: time.hour)
        parts.tm_min = Int32(clamping: time.minute)
        parts.tm_sec = Int32(clamping: time.second)
        let seconds = timegm(&parts)
        return .date(Date(timeIntervalSince1970: Double(seconds) + Double(time.second_part) / 1_000_000))
    }
}
