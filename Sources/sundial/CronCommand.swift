import ArgumentParser
import Foundation
import SundialSchedule

/// `sundial cron next|check`: ask the schedule engine without touching a database.
struct CronCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cron",
        abstract: "Check cron expressions and list their next fire times.",
        subcommands: [Next.self, Check.self])

    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the next fire times, one per line, in RFC 3339 with the zone's offset.")

        @Option(help: "How many fire times.")
        var count = 5

        @Option(help: ArgumentHelp("Start after this RFC 3339 time (default: now).", valueName: "time"))
        var from: String?

        @Option(help: ArgumentHelp("IANA time zone of the expression.", valueName: "zone"))
        var tz = "UTC"

        @Argument(help: "The expression: 5, 6 or 7 fields, @daily, @every 90s, @at 2026-12-01T03:00:00Z.")
        var expression: [String]

        func validate() throws {
            guard (1...10_000).contains(count) else { throw ValidationError("--count must be from 1 to 10000") }
        }

        func run() throws {
            let schedule = try CronCommand.parse(expression, tz: tz)
            var start = Date()
            if let from {
                guard let parsed = RFC3339.parse(from) else {
                    throw ValidationError("--from \(from) is not an RFC 3339 time such as 2026-03-08T00:00:00Z")
                }
                start = parsed
            }
            let fires = schedule.next(after: start, count: count)
            if fires.isEmpty {
                FileHandle.standardError.write(
                    Data("no next fire: the schedule has no fire after \(RFC3339.format(start))\n".utf8))
                throw ExitCode(1)
            }
            for fire in fires {
                print(RFC3339.format(fire, utcOffset: schedule.utcOffset(at: fire)))
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print what the expression means, or the error (on standard error, exit status 2).")

        @Option(help: ArgumentHelp("IANA time zone of the expression.", valueName: "zone"))
        var tz = "UTC"

        @Argument(help: "The expression.")
        var expression: [String]

        func run() throws {
            print(try CronCommand.parse(expression, tz: tz).description)
        }
    }

    /// Joins the words (so quoting the expression is optional) and parses; errors exit with 2.
    static func parse(_ words: [String], tz: String) throws -> Schedule {
        do {
            return try Schedule(words.joined(separator: " "), timeZone: tz)
        } catch {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
    }
}
