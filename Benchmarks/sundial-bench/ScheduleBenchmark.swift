import ArgumentParser
import Foundation
import SundialSchedule

/// Next-fire computations per second for a mix of common expressions in a zone with DST.
struct ScheduleBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Next-fire computations per second (one core).")

    @Option(help: "Computations per round.")
    var iterations = 1_000_000

    @Option(help: "Rounds; the median is reported.")
    var rounds = 5

    @Option(help: "IANA zone for the expressions.")
    var tz = "America/New_York"

    static let expressions = [
        "* * * * *", "*/5 * * * *", "0 * * * *", "30 2 * * *", "0 3 * * 1-5", "0 0 1 * *",
        "*/10 * * * * *", "0 0 L * *", "0 9 * * 5#3", "15 10 * * MON,WED,FRI", "0 0 1 1 *", "@every 90s",
    ]

    func run() throws {
        let schedules = try Self.expressions.map { try Schedule($0, timeZone: tz) }
        var generator = SystemRandomNumberGenerator()
        // Start instants spread over 2026–2027 so DST transitions are crossed.
        let starts = (0..<4096).map { _ in
            Date(timeIntervalSince1970: Double.random(in: 1_767_225_600...1_830_297_600, using: &generator))
        }
        var rates: [Double] = []
        var checksum = 0.0
        for _ in 0..<rounds {
            let clock = ContinuousClock()
            let start = clock.now
            for i in 0..<iterations {
                let schedule = schedules[i % schedules.count]
                if let next = schedule.next(after: starts[i & 4095]) { checksum += next.timeIntervalSince1970 }
            }
            let elapsed = clock.now - start
            rates.append(Double(iterations) / elapsed.seconds)
        }
        rates.sort()
        let median = rates[rates.count / 2]
        print(
            "schedule: PASS \(Int(median)) next-fire computations/s (median of \(rounds) rounds of \(iterations), \(Self.expressions.count) expressions, \(tz)); best \(Int(rates.last!))"
        )
        if checksum == 0 { print("(no fires)") }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
