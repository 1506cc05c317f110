import ArgumentParser
import Foundation
import SundialAlerts
import SundialCore
import SundialSchedule

/// `sundial alert …`: try a channel, and see what was raised and delivered.
struct AlertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alert",
        abstract: "Send a test alert through a channel, or list recent alerts.",
        subcommands: [Test.self, List.self])

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a test event through the channel NAME now, and say whether it arrived.",
            discussion: "Delivered directly, not through the alert table: it needs no database.")

        @Argument(help: "The channel's name in the alert settings.") var name: String
        @Option(help: "The alert settings file. (env: SUNDIAL_ALERTS)") var alerts: String?

        func run() throws {
            guard let path = alerts ?? Environment.value("SUNDIAL_ALERTS") else {
                throw ValidationError("no alert settings: give --alerts FILE or set SUNDIAL_ALERTS")
            }
            let settings: AlertSettings
            do {
                settings = try AlertSettings.load(path: path)
            } catch {
                throw ValidationError("\(error)")
            }
            guard let channel = settings.channels[name] else {
                throw ValidationError(
                    "no channel named \(name) in \(path) (channels: \(settings.channels.keys.sorted().joined(separator: ", ")))"
                )
            }
            let host = ProcessInfo.processInfo.hostName
            let draft = AlertDraft(
                event: .test, subject: "test:\(name)", channel: name,
                summary: "a test alert for channel \(name), sent by `sundial alert test` on \(host)",
                detail: "If you can read this, the channel works.", raisedBy: "\(host):\(getpid())",
                dedupeWindow: .zero)
            let alert = Alert(id: 0, draft: draft, createdAt: Date(), attempts: 1)
            do {
                try channel.makeChannel().deliver(AlertMessage(alert: alert, sentAt: Date()))
            } catch {
                throw CommandFailure("channel \(name): \(error)")
            }
            print("delivered a test alert through \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest alerts and how their delivery went.")
        @OptionGroup var common: StoreOptions
        @Option(help: "How many.") var limit = 20

        func run() throws {
            let alerts = try common.withStore { try $0.alerts(limit: max(1, min(limit, 1_000))) }
            guard !alerts.isEmpty else {
                print("no alerts")
                return
            }
            for alert in alerts.reversed() {
                let when = RFC3339.format(alert.createdAt)
                var line =
                    "\(alert.id)  \(when)  \(alert.draft.event.rawValue)  → \(alert.draft.channel)  \(alert.status.rawValue)"
                line += " (\(alert.attempts) attempt\(alert.attempts == 1 ? "" : "s"))  \(alert.draft.summary)"
                if let error = alert.error, alert.status != .delivered { line += "  [\(error)]" }
                print(line)
            }
        }
    }
}
