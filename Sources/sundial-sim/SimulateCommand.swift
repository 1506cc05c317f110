import ArgumentParser
import Foundation
import SundialSimulation

/// `sundial-sim`: runs seeds of the deterministic fault simulation; exits non-zero on the first
/// violation, printing the seed and the trace that reproduces it.
@main
struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial-sim",
        abstract: "Run executors against the in-memory store under injected faults and check the invariants.")

    @Option(help: "How many seeds to run.") var seeds = 100
    @Option(help: "The first seed.") var from: UInt64 = 1
    @Flag(help: "Print the whole trace of every seed.") var trace = false
    @Option(help: "Trace lines printed before a violation.") var context = 300
    @Option(
        help: ArgumentHelp(
            "Seconds the store keeps a transaction whose client was cut off before rolling it back.",
            discussion: "0 keeps it until the seed ends, as a server without `idle_transaction_timeout` does."))
    var idleTransactionTimeout = 3.0

    var settings: SimulationSettings {
        var settings = SimulationSettings()
        settings.idleTransactionTimeout = idleTransactionTimeout > 0 ? idleTransactionTimeout : nil
        return settings
    }

    func run() throws {
        var executions = 0
        var faults = 0
        let started = Date()
        for seed in from..<(from + UInt64(seeds)) {
            let report = Simulation(seed: seed, settings: settings).run()
            executions += report.executions
            faults += report.faults
            if trace { report.trace.forEach { print($0) } }
            guard report.passed else {
                print("sundial-sim: seed \(seed) FAILED")
                report.trace.suffix(context).forEach { print("  \($0)") }
                report.violations.forEach { print("violation: \($0)") }
                let options = idleTransactionTimeout == 3 ? "" : " --idle-transaction-timeout \(idleTransactionTimeout)"
                print("reproduce: swift run -c release sundial-sim --seeds 1 --from \(seed)\(options) --trace")
                throw ExitCode(1)
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            "sundial-sim: \(seeds) seeds from \(from) passed: \(executions) executions, \(faults) faults injected, \(String(format: "%.1f", seconds)) s"
        )
    }
}
