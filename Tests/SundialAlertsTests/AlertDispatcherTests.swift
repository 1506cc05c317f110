import Foundation
import Logging
import SundialAlerts
import SundialCore
import SundialMemoryStore
import SundialTesting
import Testing

/// The dispatcher over the in-memory store on a manual clock, with real receivers.
@Suite struct AlertDispatcherTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func draft(_ channel: String, subject: String = "task:1") -> AlertDraft {
        AlertDraft(
            event: .failed, subject: subject, channel: channel, taskID: 1, taskName: "t", summary: "t failed",
            raisedBy: "e1", dedupeWindow: .zero)
    }

    func settings(_ channels: [String: ChannelSettings.Kind], attempts: Int = 3) -> AlertSettings {
        AlertSettings(
            channels: channels.mapValues { kind in
                ChannelSettings(
                    name: "", kind: kind, events: Set(AlertEvent.allCases), timeout: .seconds(5), attempts: attempts)
            })
    }

    @Test func aFailingReceiverIsTriedAgainWithBackoffUntilItTakesTheAlert() throws {
        let receiver = try AlertReceiver()
        let store = InMemoryStore(clock: .manual())
        let hook = ChannelSettings.Kind.webhook(
            url: URL(string: receiver.url("flaky/2/a"))!, template: .generic, secret: nil, headers: [:])
        let dispatcher = AlertDispatcher(
            store: store, settings: settings(["ops": hook]), executorID: "e1", logger: logger)
        try store.raise([draft("ops")])
        #expect(dispatcher.deliverDue() == 1)
        #expect(try store.alerts(limit: 1).first?.error == "127.0.0.1 answered HTTP 503: ok")
        // Not before its backoff.
        #expect(dispatcher.deliverDue() == 0)
        store.clock.advance(by: AlertDispatcher.backoff(afterAttempt: 1).timeInterval)
        #expect(dispatcher.deliverDue() == 1)
        store.clock.advance(by: AlertDispatcher.backoff(afterAttempt: 2).timeInterval)
        #expect(dispatcher.deliverDue() == 1)
        let alert = try #require(try store.alerts(limit: 1).first)
        #expect(alert.status == .delivered && alert.attempts == 3 && alert.error == nil)
        #expect(receiver.received.map(\.status) == [503, 503, 200])
        #expect(
            AlertDispatcher.backoff(afterAttempt: 1) == .seconds(5)
                && AlertDispatcher.backoff(afterAttempt: 30) == .seconds(600))
    }

    @Test func anAlertIsGivenUpAfterItsChannelsAttemptsAndOthersStillGoThrough() throws {
        let receiver = try AlertReceiver()
        let store = InMemoryStore(clock: .manual())
        let dispatcher = AlertDispatcher(
            store: store,
            settings: settings(
                [
                    "broken": .webhook(
                        url: URL(string: receiver.url("status/500"))!, template: .generic, secret: nil, headers: [:]),
                    "ok": .webhook(
                        url: URL(string: receiver.url("ok"))!, template: .generic, secret: nil, headers: [:]),
                ], attempts: 2),
            executorID: "e1", logger: logger)
        try store.raise([draft("broken"), draft("ok"), draft("unknown-here")])
        #expect(dispatcher.deliverDue() == 2)
        store.clock.advance(by: 600)
        #expect(dispatcher.deliverDue() == 1)
        let byChannel = Dictionary(uniqueKeysWithValues: try store.alerts(limit: 10).map { ($0.draft.channel, $0) })
        #expect(byChannel["broken"]?.status == .failed && byChannel["broken"]?.attempts == 2)
        #expect(byChannel["ok"]?.status == .delivered)
        // A channel this executor does not have is left to the executors that have it.
        #expect(byChannel["unknown-here"]?.status == .pending && byChannel["unknown-here"]?.attempts == 0)
        let bare = AlertDispatcher(store: store, settings: AlertSettings(), executorID: "e2", logger: logger)
        try store.raise([draft("ok", subject: "task:2")])
        #expect(bare.deliverDue() == 0)
        #expect(try store.alerts(limit: 1).first?.attempts == 0)
    }

    @Test func aDispatcherThatLosesTheSettleDeliversAgainOnceItsClaimRunsOut() throws {
        let receiver = try AlertReceiver()
        let store = InMemoryStore(clock: .manual())
        let channels = settings([
            "ops": .webhook(url: URL(string: receiver.url("ok"))!, template: .generic, secret: nil, headers: [:])
        ])
        let first = AlertDispatcher(store: store, settings: channels, executorID: "e1", logger: logger)
        let second = AlertDispatcher(store: store, settings: channels, executorID: "e2", logger: logger)
        try store.raise([draft("ops")])
        // The settle's answer never comes back: the alert stays claimed by e1 until its lease ends.
        store.injectFaults { $0 == .settleAlert ? .lostRequest : nil }
        #expect(first.deliverDue() == 0)
        store.injectFaults(nil)
        #expect(second.deliverDue() == 0)
        store.clock.advance(by: 600)
        #expect(second.deliverDue() == 1)
        // At least once: delivered twice, recorded once.
        #expect(receiver.received.count == 2)
        #expect(try store.alerts(limit: 1).first?.status == .delivered)
    }
}
