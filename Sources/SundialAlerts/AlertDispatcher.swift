import Foundation
import Logging
import SundialCore

/// Delivers pending alerts, on a thread of its own: claims a few (claim token, lease), delivers
/// each through its channel, and settles it (delivered, or failed and retried with backoff, or
/// given up after the channel's attempts). Any executor may deliver any alert; one that dies
/// mid-delivery lets its claim run out and another delivers it again: at least once.
///
/// It never touches the task threads or the recorder: a slow mail server slows alerts only.
public final class AlertDispatcher: @unchecked Sendable {
    public let store: any AlertStore
    public let executorID: String
    private var channelsByName: [String: any AlertChannel]
    private let channelLock = NSLock()
    private let logger: Logger
    /// Most alerts claimed at once.
    public var batch = 10
    /// How often pending alerts are looked for when there were none.
    public var pollInterval: Duration = .seconds(1)
    /// How long a failed delivery waits before its next attempt (by attempts made so far).
    public var retryDelay: @Sendable (Int) -> Duration = { AlertDispatcher.backoff(afterAttempt: $0) }
    /// How long a claim holds; nil: long enough for every claimed alert to time out in turn.
    public var claimLease: Duration?

    private let condition = NSCondition()
    private var stopped = false
    private var thread: Thread?
    private var finished = false

    public convenience init(store: any AlertStore, settings: AlertSettings, executorID: String, logger: Logger) {
        self.init(
            store: store, channels: settings.channels.mapValues { $0.makeChannel() }, executorID: executorID,
            logger: logger)
    }

    /// With channels of the caller's making (tests).
    public init(store: any AlertStore, channels: [String: any AlertChannel], executorID: String, logger: Logger) {
        self.store = store
        self.channelsByName = channels
        self.executorID = executorID
        self.logger = logger
    }

    /// The channels now (they change with `update`, on SIGHUP).
    private var channels: [String: any AlertChannel] {
        channelLock.lock()
        defer { channelLock.unlock() }
        return channelsByName
    }

    /// New settings: alerts claimed from now on go through these channels.
    public func update(_ settings: AlertSettings) {
        let made = settings.channels.mapValues { $0.makeChannel() }
        channelLock.lock()
        channelsByName = made
        channelLock.unlock()
    }

    /// Retry n (1-based) waits 5 s · 2^(n-1), at most 10 minutes.
    public static func backoff(afterAttempt attempt: Int) -> Duration {
        .seconds(min(600, 5 * pow(2, Double(max(0, min(attempt - 1, 20))))))
    }

    /// Claims and delivers what is due now; returns how many alerts it settled. One call, on the
    /// calling thread: the loop calls it, and so do tests.
    @discardableResult
    public func deliverDue() -> Int {
        let channels = self.channels
        let token = ClaimToken.random()
        // Long enough for every claimed alert to time out in turn, with room to settle.
        let slowest = channels.values.map(\.settings.timeout).max() ?? .seconds(10)
        let lease = claimLease ?? slowest * batch + .seconds(30)
        let claimed: [Alert]
        do {
            claimed = try store.claimAlerts(by: executorID, token: token, lease: lease, limit: batch)
        } catch {
            logger.warning("could not claim alerts to deliver", metadata: ["error": "\(error)"])
            return 0
        }
        var settled = 0
        for alert in claimed {
            let outcome = deliver(alert, channels)
            do {
                if try store.settleAlert(
                    id: alert.id, token: token, delivered: outcome.delivered, error: outcome.error,
                    retryIn: outcome.retryIn)
                {
                    settled += 1
                }
            } catch {
                // The claim runs out and the alert is delivered again: at least once.
                logger.warning(
                    "could not record an alert's delivery", metadata: ["alert": "\(alert.id)", "error": "\(error)"])
            }
        }
        return settled
    }

    private func deliver(_ alert: Alert, _ channels: [String: any AlertChannel]) -> (
        delivered: Bool, error: String?, retryIn: Duration?
    ) {
        let metadata: Logger.Metadata = [
            "alert": "\(alert.id)", "event": "\(alert.draft.event.rawValue)", "channel": "\(alert.draft.channel)",
            "attempt": "\(alert.attempts)",
        ]
        guard let channel = channels[alert.draft.channel] else {
            // Another executor may know the channel: leave it to them for a while, then give up.
            let error = "no channel named \(alert.draft.channel) in this executor's alert settings"
            logger.warning("cannot deliver an alert", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return (false, error, alert.attempts < 10 ? retryDelay(alert.attempts) : nil)
        }
        do {
            try channel.deliver(AlertMessage(alert: alert, sentAt: Date()))
            logger.info("alert delivered", metadata: metadata)
            return (true, nil, nil)
        } catch {
            let retry = alert.attempts < channel.settings.attempts
            logger.warning(
                retry ? "alert delivery failed; trying again later" : "alert delivery failed; giving up",
                metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return (false, error.description, retry ? retryDelay(alert.attempts) : nil)
        }
    }

    /// Delivers on its own thread until `stop`.
    public func start() {
        let thread = Thread { [self] in
            while true {
                let settled = deliverDue()
                condition.lock()
                if !stopped && settled == 0 {
                    _ = condition.wait(until: Date().addingTimeInterval(pollInterval.timeInterval))
                }
                let done = stopped
                condition.unlock()
                if done { break }
            }
            condition.lock()
            finished = true
            condition.broadcast()
            condition.unlock()
        }
        thread.name = "sundial-alerts"
        self.thread = thread
        thread.start()
    }

    /// Stops after the delivery in progress, waiting at most `timeout` for it.
    public func stop(timeout: Duration = .seconds(15)) {
        condition.lock()
        stopped = true
        condition.broadcast()
        let deadline = Date().addingTimeInterval(timeout.timeInterval)
        while thread != nil && !finished && condition.wait(until: deadline) {}
        condition.unlock()
    }
}
