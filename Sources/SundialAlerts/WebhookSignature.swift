import Crypto
import Foundation

/// The webhook's signature header: HMAC-SHA256 of the timestamp, a dot and the body, keyed by
/// the channel's secret, so a receiver can tell the request came from Sundial and is fresh.
///
/// Headers: `X-Sundial-Timestamp: <unix seconds>` and
/// `X-Sundial-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.
public enum WebhookSignature {
    public static func sign(body: Data, timestamp: Int, secret: String) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    /// Checks a signature in constant time (for receivers written in Swift, and the tests).
    public static func isValid(_ signature: String, body: Data, timestamp: Int, secret: String) -> Bool {
        let expected = Array(sign(body: body, timestamp: timestamp, secret: secret).utf8)
        let given = Array(signature.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
