import CCurl
import Foundation
import SundialCore

/// POSTs the alert as JSON (generic or Slack-compatible), signed when the channel has a secret.
/// Any 2xx answer is a delivery; anything else, or no answer within the timeout, is retried.
public struct WebhookChannel: AlertChannel {
    public let settings: ChannelSettings

    public func deliver(_ message: AlertMessage) throws(AlertDeliveryError) {
        guard case .webhook(let url, let template, let secret, let headers) = settings.kind else { return }
        let body = template == .slack ? message.slack : message.json
        let timestamp = Int(message.sentAt.timeIntervalSince1970)
        var lines = [
            "Content-Type: application/json", "User-Agent: sundial/\(SundialVersion.current)",
            "X-Sundial-Event: \(message.alert.draft.event.rawValue)", "X-Sundial-Alert-Id: \(message.alert.id)",
            "X-Sundial-Timestamp: \(timestamp)",
            // No "Expect: 100-continue" round trip before the body.
            "Expect:",
        ]
        if let secret {
            lines.append(
                "X-Sundial-Signature: \(WebhookSignature.sign(body: body, timestamp: timestamp, secret: secret))")
        }
        lines += headers.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
        let transfer = try CurlTransfer()
        try transfer.set(CURLOPT_URL, url.absoluteString)
        try transfer.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try transfer.set(CURLOPT_FOLLOWLOCATION, 0)
        try transfer.set(CURLOPT_TIMEOUT_MS, Int(settings.timeout.timeInterval * 1000))
        try transfer.set(CURLOPT_HTTPHEADER, list: lines)
        try transfer.send(body, asUpload: false)
        let (code, answer) = try transfer.perform()
        guard (200..<300).contains(code) else {
            let text = String(decoding: answer.prefix(300), as: UTF8.self)
            throw AlertDeliveryError(
                "\(url.host ?? "the receiver") answered HTTP \(code)\(text.isEmpty ? "" : ": \(text)")")
        }
    }
}
