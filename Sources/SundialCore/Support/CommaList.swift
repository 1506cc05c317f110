/// The comma-separated lists of the schema (`cron.tags`, `cron.alerts`, `cron_executor.actions`)
/// and of settings.
public enum CommaList {
    /// The items of `text`, trimmed, empty ones dropped: how settings and registry lists are read.
    public static func items(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The claim's placement rule (MySQL's `FIND_IN_SET`, byte for byte, nothing trimmed): a row
    /// without tags runs anywhere; otherwise on an executor with one of the row's tags.
    public static func tagsAllow(_ rowTags: String?, executorTags: [String]) -> Bool {
        guard let rowTags, !rowTags.isEmpty else { return true }
        // Byte for byte, as MySQL's FIND_IN_SET on the binary column (Swift's `==` would match
        // canonically equivalent spellings the store does not).
        let tags = rowTags.split(separator: ",", omittingEmptySubsequences: false)
        return executorTags.contains { wanted in tags.contains { $0.utf8.elementsEqual(wanted.utf8) } }
    }
}
