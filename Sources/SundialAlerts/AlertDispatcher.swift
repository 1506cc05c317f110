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
    /// How often pending alerts are looked for when there were none.
    public var pollInterval: Duration = .seconds(1)
    /// How long a failed delivery waits before its next attempt (by attempts made so far).
    public var retryDelay: @Sendable (Int) -> Duration = { AlertDispatcher.backoff(afterAttempt: $0) }
    /// A claim holds for its channel's timeout plus this, to settle the outcome.
    public var claimMargin: Duration = .seconds(30)

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

    /// Claims and delivers what is due now, channel by channel, one alert at a time (each held
    /// for its own channel's timeout and a margin, so a crash strands it no longer than that);
    /// returns how many alerts it settled. Only channels this executor has are claimed: one
    /// without alert settings leaves every alert to the others. One call, on the calling thread:
    /// the loop calls it, and so do tests.
    @discardableResult
    public func deliverDue(atMost: Int = 100) -> Int {
        var settled = 0
        for (name, channel) in channels.sorted(by: { $0.key < $1.key }) {
            var taken = 0
            while taken < atMost {
                let token = ClaimToken.random()
                let claimed: [Alert]
                do {
                    claimed = try store.claimAlerts(
                        channel: name, by: executorID, token: token, lease: channel.settings.timeout + claimMargin,
                        limit: 1)
                } catch {
                    logger.warning("could not claim alerts to deliver", metadata: ["error": "\(error)"])
                    return settled
                }
                guard let alert = claimed.first else { break }
                taken += 1
                let outcome = deliver(alert, through: channel)
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
        }
        return settled
    }

    private func deliver(_ alert: Alert, through channel: any AlertChannel) -> (
        delivered: Bool, error: String?, retryIn: Duration?
    ) {
        let metadata: Logger.Metadata = [
            "alert": "\(alert.id)", "event": "\(alert.draft.event.rawValue)", "channel": "\(alert.draft.channel)",
            "attempt": "\(alert.attempts)",
        ]
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
