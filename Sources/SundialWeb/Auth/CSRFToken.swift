/// CSRF tokens tied to the session's secret and masked anew for each response (so that a
/// compressed page does not reveal the secret, BREACH): `base64url(mask ‖ secret ⊕ mask)`.
public enum CSRFToken {
    /// A fresh masked token for the secret.
    public static func masked(secret: String) -> String {
        guard let secretBytes = Secrets.fromBase64URL(secret) else { return "" }
        let mask = Secrets.randomBytes(secretBytes.count)
        return Secrets.base64URL(mask + zip(secretBytes, mask).map { $0 ^ $1 })
    }

    /// Whether `token` was masked from `secret`, compared in constant time.
    public static func verify(_ token: String, secret: String) -> Bool {
        guard let secretBytes = Secrets.fromBase64URL(secret), !secretBytes.isEmpty,
            let tokenBytes = Secrets.fromBase64URL(token), tokenBytes.count == 2 * secretBytes.count
        else { return false }
        let mask = tokenBytes.prefix(secretBytes.count)
        let unmasked = zip(tokenBytes.suffix(secretBytes.count), mask).map { $0 ^ $1 }
        return Secrets.constantTimeEqual(unmasked, secretBytes)
    }
}
