import ArgumentParser
import CMariaDB
import Foundation
import Logging
import SundialMySQL

/// Point-select round trips per second: through `Database` and its pool, against a plain loop
/// over the C API on one connection, interleaved in one run.
struct PoolBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool", abstract: "Pool overhead: point selects through the pool vs. the bare C API.")

    @Option(help: "Round trips per round.")
    var iterations = 20_000

    @Option(help: "Rounds of each; medians are reported.")
    var rounds = 7

    @Option(help: "The primary's URL (default: SUNDIAL_DATABASE_URL).")
    var databaseURL: String?

    func run() throws {
        guard let url = databaseURL ?? ProcessInfo.processInfo.environment["SUNDIAL_DATABASE_URL"] else {
            throw ValidationError(
                "pass --database-url or set SUNDIAL_DATABASE_URL (e.g. eval \"$(deploy/dev/devdb env)\")")
        }
        let db = try Database(url: url, logger: BenchDatabase.logger)
        defer { db.close() }
        try db.execute("CREATE TABLE IF NOT EXISTS bench_point (id INT PRIMARY KEY, name VARCHAR(32) NOT NULL)")
        try db.execute("INSERT IGNORE INTO bench_point (id, name) SELECT seq, CONCAT('row-', seq) FROM seq_1_to_1000")

        let sql = "SELECT id, name FROM bench_point WHERE id = ?"
        let bare = try BareClient(endpoint: db.primary.endpoint, sql: sql)
        defer { bare.close() }

        var pooled: [Double] = []
        var plain: [Double] = []
        for _ in 0..<rounds {
            plain.append(try measure { i in try bare.select(id: Int64(i % 1000 + 1)) })
            pooled.append(
                try measure { i in
                    let rows = try db.query(sql, [.int(Int64(i % 1000 + 1))], consistency: .primary)
                    if rows.count != 1 { throw ValidationError("expected one row") }
                })
        }
        let p = pooled.median
        let c = plain.median
        print(
            "pool: PASS \(Int(p)) point selects/s through the pool, \(Int(c))/s with the bare C API on one connection; pool costs \(String(format: "%.1f", (1 - p / c) * 100)) % (medians of \(rounds) interleaved rounds of \(iterations))"
        )
    }

    private func measure(_ body: (Int) throws -> Void) throws -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<iterations { try body(i) }
        return Double(iterations) / (clock.now - start).seconds
    }

}

/// The baseline: one connection, one prepared statement, fixed bind buffers, no pool, no values.
final class BareClient {
    let mysql: UnsafeMutablePointer<MYSQL>
    let statement: UnsafeMutablePointer<MYSQL_STMT>
    var parameter: Int64 = 0
    var resultID: Int64 = 0
    var resultName = [CChar](repeating: 0, count: 64)
    var nameLength: UInt = 0

    init(endpoint: MySQLEndpoint, sql: String) throws {
        mysql = mysql_init(nil)
        // The same session settings as the pool's connections, so only the pool's own work differs.
        let options = ConnectionOptions()
        var readTimeout = UInt32(options.readTimeout.components.seconds)
        var writeTimeout = UInt32(options.writeTimeout.components.seconds)
        mysql_options(mysql, MYSQL_OPT_READ_TIMEOUT, &readTimeout)
        mysql_options(mysql, MYSQL_OPT_WRITE_TIMEOUT, &writeTimeout)
        mysql_options(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        mysql_options(mysql, MYSQL_INIT_COMMAND, "SET time_zone='+00:00'")
        mysql_options(mysql, MYSQL_INIT_COMMAND, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        guard
            mysql_real_connect(
                mysql, endpoint.socket == nil ? endpoint.host : nil, endpoint.user, endpoint.password,
                endpoint.database, UInt32(endpoint.port), endpoint.socket, 0) != nil
        else { throw ValidationError("connect: \(String(cString: mysql_error(mysql)))") }
        statement = mysql_stmt_init(mysql)
        guard mysql_stmt_prepare(statement, sql, UInt(sql.utf8.count)) == 0 else {
            throw ValidationError("prepare: \(String(cString: mysql_stmt_error(statement)))")
        }
    }

    func select(id: Int64) throws {
        parameter = id
        try withUnsafeMutablePointer(to: &parameter) { parameterPointer in
            var bind = MYSQL_BIND()
            bind.buffer_type = MYSQL_TYPE_LONGLONG
            bind.buffer = UnsafeMutableRawPointer(parameterPointer)
            guard mysql_stmt_bind_param(statement, &bind) == 0, mysql_stmt_execute(statement) == 0 else {
                throw ValidationError("execute: \(String(cString: mysql_stmt_error(statement)))")
            }
        }
        try withUnsafeMutablePointer(to: &resultID) { idPointer in
            try resultName.withUnsafeMutableBytes { nameBuffer in
                try withUnsafeMutablePointer(to: &nameLength) { lengthPointer in
                    var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: 2)
                    binds[0].buffer_type = MYSQL_TYPE_LONGLONG
                    binds[0].buffer = UnsafeMutableRawPointer(idPointer)
                    binds[1].buffer_type = MYSQL_TYPE_STRING
                    binds[1].buffer = nameBuffer.baseAddress
                    binds[1].buffer_length = UInt(nameBuffer.count)
                    binds[1].length = lengthPointer
                    guard mysql_stmt_bind_result(statement, &binds) == 0 else {
                        throw ValidationError("bind: \(String(cString: mysql_stmt_error(statement)))")
                    }
                    var rows = 0
                    while mysql_stmt_fetch(statement) == 0 { rows += 1 }
                    mysql_stmt_free_result(statement)
                    if rows != 1 { throw ValidationError("expected one row, got \(rows)") }
                }
            }
        }
    }

    func close() {
        mysql_stmt_close(statement)
        mysql_close(mysql)
    }
}
