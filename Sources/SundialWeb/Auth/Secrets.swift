import Crypto
import Foundation

/// Random secrets, their hashes and comparisons that take the same time whatever matches.
public enum Secrets {
    /// `count` bytes from the system's secure generator.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
    }

    /// URL-safe base64 without padding.
    public static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    public static func fromBase64URL(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }

    /// Lower-case hex SHA-256.
    public static func sha256Hex(_ text: String) -> String {
        SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Equal contents, compared in time that depends on the length only.
    public static func constantTimeEqual(_ a: some Collection<UInt8>, _ b: some Collection<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    /// What every API token starts with, and how many random bytes follow (as base64url).
    static let tokenPrefix = "sdl_"
    static let tokenBytes = 24

    /// A new API token: `sdl_` and 192 random bits (156 of them beyond the hint shown in
    /// listings). Only its hash is stored.
    public static func newAPIToken() -> (secret: String, hash: String, hint: String) {
        let secret = tokenPrefix + base64URL(randomBytes(tokenBytes))
        return (secret, sha256Hex(secret), String(secret.prefix(10)))
    }

    /// Whether a bearer value looks like one of ours at all (cheap refusal of anything else).
    public static func looksLikeAPIToken(_ text: String) -> Bool {
        text.hasPrefix(tokenPrefix) && text.count == tokenPrefix.count + (tokenBytes * 4 + 2) / 3
            && text.utf8.allSatisfy { $0 < 128 }
    }

    /// A password for a first admin: 20 characters of letters and digits (about 119 bits).
    public static func newPassword() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var generator = SystemRandomNumberGenerator()
        return String((0..<20).map { _ in alphabet.randomElement(using: &generator)! })
    }
}
