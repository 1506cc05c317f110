import Foundation
import SundialCore

/// Something that delivers an alert, blocking the calling thread (the dispatcher's own) for at
/// most the channel's timeout.
public protocol AlertChannel: Sendable {
    var settings: ChannelSettings { get }
    func deliver(_ message: AlertMessage) throws(AlertDeliveryError)
}

extension ChannelSettings {
    /// The channel these settings describe.
    public func makeChannel() -> any AlertChannel {
        switch kind {
        case .webhook: WebhookChannel(settings: self)
        case .email: EmailChannel(settings: self)
        case .command: CommandChannel(settings: self)
        }
    }
}
