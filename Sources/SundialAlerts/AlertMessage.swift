import Foundation
import SundialCore

/// An alert as each channel sends it: the generic JSON body, Slack's text, the mail, the
/// command's environment. Pure, so that the README's examples are tested as written.
public struct AlertMessage: Sendable {
    public let alert: Alert
    /// When this delivery attempt is made (the executor's clock: it is only informative).
    public let sentAt: Date

    public init(alert: Alert, sentAt: Date) {
        self.alert = alert
        self.sentAt = sentAt
    }

    private static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    /// The generic webhook body and the command's stdin: one JSON object.
    public var json: Data {
        let draft = alert.draft
        var object: [String: Any] = [
            "alert_id": alert.id,
            "event": draft.event.rawValue,
            "subject": draft.subject,
            "summary": draft.summary,
            "channel": draft.channel,
            "raised_by": draft.raisedBy,
            "created_at": Self.timestamp(alert.createdAt),
            "sent_at": Self.timestamp(sentAt),
            "delivery_attempt": alert.attempts,
        ]
        object["detail"] = draft.detail ?? NSNull()
        if let id = draft.taskID {
            object["task"] = ["id": id, "name": draft.taskName ?? ""] as [String: Any]
        } else {
            object["task"] = NSNull()
        }
        if let run = draft.run {
            object["run"] =
                ["scheduled_for": Self.timestamp(run.scheduled), "attempt": run.attempt + 1] as [String: Any]
        } else {
            object["run"] = NSNull()
        }
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }

    /// One line for chat and mail subjects.
    public var headline: String {
        "[sundial] \(alert.draft.event.rawValue): \(alert.draft.summary)"
    }

    /// Slack-compatible body: `{"text": ...}`.
    public var slack: Data {
        let icon: String
        switch alert.draft.event {
        case .recovered: icon = ":white_check_mark:"
        case .test: icon = ":information_source:"
        default: icon = ":rotating_light:"
        }
        var text = "\(icon) *\(alert.draft.event.rawValue)*: \(Self.escapeSlack(alert.draft.summary))"
        if let detail = alert.draft.detail, !detail.isEmpty {
            text += "\n```\(Self.escapeSlack(String(detail.prefix(2_000))))```"
        }
        text += "\n_raised by \(Self.escapeSlack(alert.draft.raisedBy)) at \(Self.timestamp(alert.createdAt))_"
        return (try? JSONSerialization.data(withJSONObject: ["text": text], options: [.sortedKeys])) ?? Data()
    }

    /// Slack treats &, < and > as markup.
    private static func escapeSlack(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// The whole mail (headers and a plain-text body), CRLF line ends, as SMTP's DATA takes it.
    public func mail(from: String, to: [String]) -> Data {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        var body = alert.draft.summary + "\n\n"
        if let detail = alert.draft.detail, !detail.isEmpty { body += detail + "\n\n" }
        body += "Event: \(alert.draft.event.rawValue)\nSubject: \(alert.draft.subject)\n"
        if let name = alert.draft.taskName { body += "Task: \(name)\n" }
        if let run = alert.draft.run {
            body += "Run: scheduled for \(Self.timestamp(run.scheduled)), attempt \(run.attempt + 1)\n"
        }
        body += "Raised by \(alert.draft.raisedBy) at \(Self.timestamp(alert.createdAt)) (alert \(alert.id)).\n"
        let headers = [
            "From: \(Self.headerSafe(from))",
            "To: \(to.map(Self.headerSafe).joined(separator: ", "))",
            "Subject: \(Self.encodedWord(headline))",
            "Date: \(formatter.string(from: sentAt))",
            "Message-ID: <sundial-alert-\(alert.id)-\(alert.attempts)@\(Self.headerSafe(alert.draft.raisedBy.replacingOccurrences(of: " ", with: "")))>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "X-Sundial-Event: \(alert.draft.event.rawValue)",
        ]
        // Dot-stuffing is libcurl's. Every line end becomes CRLF, and no line passes SMTP's limit
        // of 998 characters (a long one-line error is cut into lines of 900).
        let normalized = body.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        let lines = normalized.split(separator: "\n", omittingEmptySubsequences: false).flatMap { line in
            stride(from: 0, to: max(line.count, 1), by: 900).map { start in
                String(line.dropFirst(start).prefix(900))
            }
        }.joined(separator: "\r\n")
        return Data((headers.joined(separator: "\r\n") + "\r\n\r\n" + lines).utf8)
    }

    /// A header value cannot carry line breaks (they would start new headers).
    private static func headerSafe(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    /// RFC 2047 for a subject that is not plain ASCII.
    private static func encodedWord(_ text: String) -> String {
        let safe = headerSafe(text)
        guard !safe.allSatisfy({ $0.isASCII }) else { return safe }
        return "=?utf-8?B?\(Data(safe.utf8).base64EncodedString())?="
    }

    /// The command channel's environment (besides the executor's own).
    public var environment: [String: String] {
        let draft = alert.draft
        var variables = [
            "SUNDIAL_ALERT_ID": "\(alert.id)",
            "SUNDIAL_ALERT_EVENT": draft.event.rawValue,
            "SUNDIAL_ALERT_SUBJECT": draft.subject,
            "SUNDIAL_ALERT_SUMMARY": draft.summary,
            "SUNDIAL_ALERT_DETAIL": draft.detail ?? "",
            "SUNDIAL_ALERT_CHANNEL": draft.channel,
            "SUNDIAL_ALERT_RAISED_BY": draft.raisedBy,
            "SUNDIAL_ALERT_CREATED_AT": Self.timestamp(alert.createdAt),
        ]
        if let id = draft.taskID { variables["SUNDIAL_ALERT_TASK_ID"] = "\(id)" }
        if let name = draft.taskName { variables["SUNDIAL_ALERT_TASK"] = name }
        if let run = draft.run {
            variables["SUNDIAL_ALERT_RUN_SCHEDULED_FOR"] = Self.timestamp(run.scheduled)
            variables["SUNDIAL_ALERT_RUN_ATTEMPT"] = "\(run.attempt + 1)"
        }
        return variables
    }
}
