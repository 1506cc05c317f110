import Foundation
import HummingbirdOTP

/// The optional second factor: a TOTP key (RFC 6238, 30 s steps, 6 digits, SHA-1: what every
/// authenticator app reads), made here, shown once to be added to an app, and checked at sign-in.
public enum SecondFactor {
    /// A new key: 32 letters and digits (about 190 bits; its bytes are the key).
    public static func newSecret() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<32).map { _ in alphabet.randomElement(using: &generator)! })
    }

    /// Whether `code` is the key's code now or one step before (a phone's clock a little behind),
    /// compared in constant time.
    public static func accepts(_ code: String, secret: String, now: Date = Date()) -> Bool {
        let digits = code.filter(\.isNumber)
        let totp = TOTP(secret: secret)
        var good = false
        for date in [now, now.addingTimeInterval(-30)] {
            let expected = String(format: "%06d", totp.compute(date: date))
            good = Secrets.constantTimeEqual(Array(expected.utf8), Array(digits.utf8)) || good
        }
        return good
    }

    /// The `otpauth://` address an authenticator app takes (typed in or from a QR code).
    public static func authenticatorURL(secret: String, user: String) -> String {
        TOTP(secret: secret).createAuthenticatorURL(label: "Sundial:\(user)", issuer: "Sundial")
    }

    /// The key as apps ask for it when typed in: base32, in groups of four.
    public static func typedKey(secret: String, user: String) -> String {
        let url = URLComponents(string: authenticatorURL(secret: secret, user: user))
        let key = url?.queryItems?.first { $0.name == "secret" }?.value ?? ""
        return stride(from: 0, to: key.count, by: 4).map { start in
            let from = key.index(key.startIndex, offsetBy: start)
            return String(key[from..<(key.index(from, offsetBy: 4, limitedBy: key.endIndex) ?? key.endIndex)])
        }.joined(separator: " ")
    }
}
