import SundialSimulation
import Testing

/// A few seeds of the fault simulation in the test suite; CI runs thousands with `sundial-sim`.
@Suite struct SimulationTests {
    @Test(arguments: 1...12) func everyInvariantHoldsUnderFaults(seed: UInt64) {
        let report = Simulation(seed: seed).run()
        #expect(report.passed, "seed \(seed): \(report.violations.joined(separator: "; "))")
        #expect(report.executions > 100, "the simulation ran work")
        #expect(report.faults > 10, "and injected faults")
    }

    @Test func aSeedReplaysExactly() {
        let first = Simulation(seed: 42).run()
        let second = Simulation(seed: 42).run()
        #expect(first.trace == second.trace)
    }
}
