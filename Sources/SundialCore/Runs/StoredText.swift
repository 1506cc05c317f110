/// Text shortened to what its column holds (bytes, on a character boundary): one long value
/// must never fail a batch.
public enum StoredText {
    /// `TEXT`: 65,535 bytes.
    public static func error(_ text: String) -> String { shortened(text, toBytes: 16_000) }
    /// `MEDIUMTEXT`: 16 MiB; kept well below `max_allowed_packet` for a batch.
    public static func output(_ text: String) -> String { shortened(text, toBytes: 1 << 20) }

    public static func shortened(_ text: String, toBytes limit: Int) -> String {
        guard text.utf8.count > limit else { return text }
        let marker = "…[shortened]"
        var end = text.utf8.index(text.utf8.startIndex, offsetBy: limit - marker.utf8.count)
        while end.samePosition(in: text.unicodeScalars) == nil { end = text.utf8.index(before: end) }
        return String(text.unicodeScalars[..<end]) + marker
    }
}
