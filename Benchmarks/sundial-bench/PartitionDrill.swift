import ArgumentParser
import Foundation
import SundialMySQL

#if canImport(Glibc)
    import Glibc
#endif

/// A partition under load, timed to catch an executor inside a transaction that holds row locks:
/// tasks every second on two executors; the drill watches `information_schema.innodb_trx` for a
/// transaction of the first executor (it alone connects over TCP, so its sessions are the ones
/// whose host has a port) that holds row locks, freezes the process with SIGSTOP at once, and checks that
/// the transaction is still open. The process stays frozen longer than its lease, then is thawed.
/// The frozen session's locks must not outlive its lease: every task fires again within the lease
/// and a grace of the freeze, no fire is lost (run_all) and none runs twice.
struct PartitionDrill: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partition",
        abstract:
            "Freeze an executor inside a transaction holding row locks: every task fires again within lease + grace."
    )

    @OptionGroup var options: DrillOptions
    @Option(help: "Seconds after the first fire before the drill looks for a transaction to catch.")
    var freezeAt = 10.0
    @Option(help: "Seconds the caught executor stays frozen (the lease is 10 s).") var freezeFor = 30.0
    @Option(help: "Seconds beyond the lease within which every task must fire again.") var grace = 5.0
    @Option(help: "The executors' lease, seconds.") var lease = 10.0

    /// The frozen executor's transaction, as caught.
    struct Catch {
        var transaction: String
        var rowsLocked: Int
        var frozenAt: Int64
        var tries: Int
    }

    func run() throws {
        let drill = try options.makeDrill(name: "partition", extraArguments: ["--lease", "\(lease)"])
        let port = try drill.bench.db.query("SELECT @@port AS port", consistency: .primary).first?["port"].int ?? 0
        guard port > 0 else { throw ValidationError("the database server does not listen on TCP (@@port is 0)") }
        let frozenPID = try drill.fleet.start(0, databaseURL: try Self.tcpURL(drill.bench.url, port: port))
        for slot in 1..<max(2, options.executors) { try drill.fleet.start(slot) }
        try drill.insertTasks(misfirePolicy: { _ in "run_all" })
        var caught: Catch?
        var thawed = false
        var transactionEndedAt: Int64?
        var lastLook: Int64 = 0
        let failed = try drill.run(disrupt: { elapsed in
            if caught == nil && elapsed >= freezeAt {
                caught = try catchInTransaction(drill)
                if caught == nil {
                    throw ValidationError("no transaction of the executor holding row locks was caught")
                }
            }
            guard let frozen = caught else { return }
            // When the server ended the frozen transaction (looked at no more often than the
            // transaction tables refresh).
            let now = Clock.unixMicroseconds()
            if transactionEndedAt == nil && now - lastLook > Int64(Self.cacheRefresh) {
                lastLook = now
                let open = try drill.bench.db.count(
                    "SELECT COUNT(*) FROM information_schema.innodb_trx WHERE CAST(trx_id AS CHAR) = ?",
                    [.string(frozen.transaction)])
                if open == 0 { transactionEndedAt = now }
            }
            // The freeze lasts `freezeFor` from the moment it caught the transaction.
            if !thawed && now - frozen.frozenAt >= Int64(freezeFor * 1_000_000) {
                drill.fleet.signal(0, SIGCONT)
                thawed = true
            }
        })
        if !thawed { drill.fleet.signal(0, SIGCONT) }
        guard let frozen = caught else { throw ValidationError("the drill ended before the freeze") }
        let executions = try WitnessLog.read(drill.witnessPath)
        let account = FireAccount(
            executions: executions, taskIDs: drill.taskIDs, window: drill.window, killedPIDs: [frozenPID])
        // Per task: its first start after the freeze, by an executor that was not frozen.
        var resumed: [Int64: Int64] = [:]
        for e in executions where e.started >= frozen.frozenAt && e.pid != frozenPID {
            resumed[e.task] = min(resumed[e.task] ?? .max, e.started)
        }
        let waits = drill.taskIDs.map { task in
            resumed[task].map { Double($0 - frozen.frozenAt) / 1_000_000 } ?? .infinity
        }
        let slowest = waits.max() ?? .infinity
        let late = waits.filter { $0 > 2 }.count
        let limit = lease + grace
        let lockHeld = transactionEndedAt.map { String(format: "%.1f s", Double($0 - frozen.frozenAt) / 1_000_000) }
        // No lock may outlive the frozen executor's lease.
        let locksEnded = transactionEndedAt.map { Double($0 - frozen.frozenAt) / 1_000_000 <= lease } ?? false
        let pass =
            account.lost == 0 && account.duplicates == 0 && slowest <= limit && locksEnded && failed.isEmpty
            && freezeFor > lease
        print(
            "partition: \(pass ? "PASS" : "FAIL") \(drill.tasks) tasks every second for \(drill.seconds) s on \(max(2, options.executors)) executors; one frozen \(Int(freezeFor)) s inside a transaction holding \(frozen.rowsLocked) row locks (caught after \(frozen.tries) looks, still open after SIGSTOP), which the server ended after \(lockHeld ?? "more than the freeze"): every task fired again within \(String(format: "%.1f", slowest)) s of the freeze (limit \(Int(limit)) s; \(late) tasks waited more than 2 s); lost \(account.lost) of \(account.expected), duplicates \(account.duplicates) (\(account.rerunsAfterKill) fires the frozen executor had started ran again), \(account.lagSummary)\(failed.isEmpty ? "" : "; executors that failed to stop: \(failed)")"
        )
        if !pass { throw ExitCode(1) }
    }

    /// InnoDB's transaction tables are a cache, refreshed only when it was last read more than
    /// 100 ms before: looked at more often, they never change.
    static let cacheRefresh: UInt32 = 120_000

    /// Looks for a transaction of executor 0 (its sessions are the TCP ones) that holds row
    /// locks, freezes the executor at once, and keeps the freeze only if the same transaction is
    /// still open after it (otherwise thaws and looks again), for up to 30 s.
    private func catchInTransaction(_ drill: FireDrill) throws -> Catch? {
        let deadline = Date().addingTimeInterval(30)
        var tries = 0
        while Date() < deadline {
            tries += 1
            let open = try drill.bench.db.query(
                """
                SELECT CAST(t.trx_id AS CHAR) AS trx, t.trx_rows_locked AS locked FROM information_schema.innodb_trx t \
                JOIN information_schema.processlist p ON p.ID = t.trx_mysql_thread_id \
                WHERE p.HOST LIKE '%:%' AND t.trx_rows_locked > 0 LIMIT 1
                """, consistency: .primary
            ).first
            guard let open, let transaction = open["trx"].string else {
                usleep(Self.cacheRefresh)
                continue
            }
            drill.fleet.signal(0, SIGSTOP)
            let frozenAt = Clock.unixMicroseconds()
            usleep(Self.cacheRefresh)
            // Still open, and its session idle: a transaction left open with its locks by a
            // frozen client, not a statement the server is still running on its own.
            let stillOpen = try drill.bench.db.count(
                """
                SELECT COUNT(*) FROM information_schema.innodb_trx t \
                JOIN information_schema.processlist p ON p.ID = t.trx_mysql_thread_id \
                WHERE CAST(t.trx_id AS CHAR) = ? AND p.COMMAND = 'Sleep'
                """, [.string(transaction)])
            if stillOpen > 0 {
                return Catch(
                    transaction: transaction, rowsLocked: open["locked"].int ?? 0, frozenAt: frozenAt, tries: tries)
            }
            drill.fleet.signal(0, SIGCONT)
        }
        return nil
    }

    /// `url` over TCP to 127.0.0.1:`port` instead of its socket.
    static func tcpURL(_ url: String, port: Int) throws -> String {
        guard var components = URLComponents(string: url) else { throw ValidationError("unreadable URL \(url)") }
        components.host = "127.0.0.1"
        components.port = port
        components.queryItems = components.queryItems?.filter { $0.name != "socket" }
        if components.queryItems?.isEmpty == true { components.queryItems = nil }
        guard let tcp = components.string else { throw ValidationError("unreadable URL \(url)") }
        return tcp
    }
}
