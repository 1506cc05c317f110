import ArgumentParser

/// Benchmarks are programs, not tests: they print numbers for the README and BENCHMARKS.md.
/// Build them in release mode: `swift run -c release sundial-bench <name>`.
@main
struct SundialBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sundial-bench",
        abstract: "Sundial's benchmarks.",
        subcommands: [
            DrainBenchmark.self, PrecisionBenchmark.self, TableSizeBenchmark.self, ScheduleBenchmark.self,
            PoolBenchmark.self,
            ShellBenchmark.self, KillDrill.self, RollingDeployDrill.self, SupervisordDrill.self,
            DatabaseRestartDrill.self, FrozenDrill.self, FailoverDrill.self, GaleraDrill.self,
            GaleraPartitionDrill.self, PoisonDrill.self, ClockStepDrill.self, PartitionDrill.self,
            MemoryBenchmark.self, ConsoleBenchmark.self,
        ])
}
