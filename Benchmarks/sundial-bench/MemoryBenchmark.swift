import ArgumentParser
import Foundation
import Logging
import SundialTesting

/// Scenario 8: resident memory of an idle executor, and its peak while it drains one-shot
/// `noop` tasks, and once idle again.
struct MemoryBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory", abstract: "Resident memory of an executor, idle and under the drain load.")

    @Option(help: "Tasks drained under load.") var tasks = 50_000
    @Option(help: "The database server (default: SUNDIAL_DATABASE_URL).") var databaseURL: String?

    func run() throws {
        let bench = try BenchDatabase.create(named: "sundial_bench_memory", baseURL: databaseURL)
        defer { bench.db.close() }
        let fleet = try ExecutorFleet(
            scenario: "memory", databaseURL: bench.url, arguments: ["--batch", "500", "--queue-allowance", "500"])
        try fleet.start(0)
        defer { fleet.stopAll() }
        usleep(5_000_000)
        guard let idle = fleet.residentKiB(0) else { throw ValidationError("the executor is not running") }
        try bench.db.execute("INSERT INTO cron (name, action) SELECT CONCAT('m-', seq), 'noop' FROM seq_1_to_\(tasks)")
        var peak = idle
        let clock = ContinuousClock()
        let start = clock.now
        var done = 0
        while done < tasks {
            guard clock.now - start < .seconds(300) else { throw ValidationError("\(tasks) tasks not run in 300 s") }
            peak = max(peak, fleet.residentKiB(0) ?? 0)
            usleep(50_000)
            done = try bench.db.count("SELECT COUNT(*) FROM cron_run WHERE finished_at IS NOT NULL")
        }
        peak = max(peak, fleet.residentKiB(0, field: "VmHWM") ?? 0)
        usleep(5_000_000)
        let after = fleet.residentKiB(0) ?? 0
        print(
            "memory: PASS one executor (8 threads): idle \(mib(idle)), peak while draining \(tasks) noop tasks \(mib(peak)), idle again \(mib(after))"
        )
    }

    private func mib(_ kib: Int) -> String { String(format: "%.1f MiB", Double(kib) / 1024) }
}
