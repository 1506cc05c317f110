import Logging

/// Text a request brought, made safe for a log line: at most 100 characters, quoted, control
/// characters escaped, so that a newline typed into a form cannot forge a line of its own (for
/// fail2ban, say, which reads these lines).
enum LogText {
    static func quoted(_ text: String) -> Logger.MetadataValue {
        .string(String(text.prefix(100)).debugDescription)
    }
}
