import ArgumentParser

/// Benchmarks are programs, not tests: they print numbers for the README and BENCHMARKS.md.
/// Build them in release mode: `swift run -c release sundial-bench <name>`.
@main
struct SundialBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial-bench",
        abstract: "Sundial's benchmarks.",
        subcommands: [ClaimBenchmark.self, DrainBenchmark.self, PoolBenchmark.self, ScheduleBenchmark.self])
}
