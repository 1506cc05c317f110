import CCurl
import Foundation
import SundialCore

/// Sends the alert as a plain-text mail over SMTP. With `smtp://` it insists on STARTTLS
/// (unless `starttls` is false) and verifies the server's certificate; `smtps://` is TLS from
/// the first byte. Credentials, when given, go only over TLS.
public struct EmailChannel: AlertChannel {
    public let settings: ChannelSettings

    public func deliver(_ message: AlertMessage) throws(AlertDeliveryError) {
        guard case .email(let mail) = settings.kind else { return }
        let transfer = try CurlTransfer()
        try transfer.set(CURLOPT_URL, mail.server.absoluteString)
        try transfer.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
        try transfer.set(CURLOPT_TIMEOUT_MS, Int(settings.timeout.timeInterval * 1000))
        if mail.startTLS || mail.server.scheme?.lowercased() == "smtps" {
            try transfer.set(CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))
        }
        if let caFile = mail.caFile { try transfer.set(CURLOPT_CAINFO, caFile) }
        if let username = mail.username { try transfer.set(CURLOPT_USERNAME, username) }
        if let password = mail.password { try transfer.set(CURLOPT_PASSWORD, password) }
        try transfer.set(CURLOPT_MAIL_FROM, "<\(Self.address(in: mail.from))>")
        try transfer.set(CURLOPT_MAIL_RCPT, list: mail.to.map { "<\(Self.address(in: $0))>" })
        try transfer.send(message.mail(from: mail.from, to: mail.to), asUpload: true)
        let (code, _) = try transfer.perform()
        // libcurl fails the transfer on a refusal; the last reply of a sent mail is 250.
        guard code == 0 || (200..<400).contains(code) else {
            throw AlertDeliveryError("the mail server answered \(code)")
        }
    }

    /// The address in `Name <a@b>` or a bare `a@b`.
    static func address(in text: String) -> String {
        guard let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close else {
            return text.trimmingCharacters(in: .whitespaces)
        }
        return String(text[text.index(after: open)..<close])
    }
}
