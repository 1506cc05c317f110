import Foundation
import SundialAlerts
import SundialCore
import Testing

@Suite struct AlertMessageTests {
    static let created = Date(timeIntervalSince1970: 1_800_000_000)
    static let alert = Alert(
        id: 42,
        draft: AlertDraft(
            event: .failed, subject: "task:7", channel: "ops", taskID: 7, taskName: "nightly <report>",
            run: RunKey(task: 7, scheduled: created, attempt: 2), summary: "nightly <report> failed (attempt 3 of 3)",
            detail: "exit status 3 & more", raisedBy: "web1:1234", dedupeWindow: .zero),
        createdAt: created, attempts: 1)
    let message = AlertMessage(alert: alert, sentAt: created.addingTimeInterval(5))

    @Test func theGenericBodyCarriesEveryDocumentedField() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: message.json) as? [String: Any])
        #expect(object["alert_id"] as? Int == 42)
        #expect(object["event"] as? String == "failed")
        #expect(object["summary"] as? String == "nightly <report> failed (attempt 3 of 3)")
        #expect(object["detail"] as? String == "exit status 3 & more")
        #expect(object["subject"] as? String == "task:7" && object["channel"] as? String == "ops")
        #expect(object["raised_by"] as? String == "web1:1234" && object["delivery_attempt"] as? Int == 1)
        #expect(object["created_at"] as? String == "2027-01-15T08:00:00.000Z")
        #expect(object["sent_at"] as? String == "2027-01-15T08:00:05.000Z")
        let task = try #require(object["task"] as? [String: Any])
        #expect(task["id"] as? Int == 7 && task["name"] as? String == "nightly <report>")
        let run = try #require(object["run"] as? [String: Any])
        #expect(run["scheduled_for"] as? String == "2027-01-15T08:00:00.000Z" && run["attempt"] as? Int == 3)
    }

    @Test func slacksTextEscapesItsMarkup() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: message.slack) as? [String: String])
        let text = try #require(object["text"])
        #expect(text.hasPrefix(":rotating_light: *failed*: nightly &lt;report&gt; failed (attempt 3 of 3)"))
        #expect(text.contains("```exit status 3 &amp; more```"))
    }

    @Test func theMailHasHeadersThatCannotBeInjectedAndCRLFLines() {
        var hostile = Self.alert
        hostile.draft.summary = "ok\r\nBcc: victim@example.com"
        let mail = String(
            decoding: AlertMessage(alert: hostile, sentAt: Self.created).mail(
                from: "s@example.com", to: ["a@example.com"]), as: UTF8.self)
        let headers = mail.components(separatedBy: "\r\n\r\n")[0].components(separatedBy: "\r\n")
        #expect(!headers.contains { $0.hasPrefix("Bcc:") })
        #expect(headers.contains("Subject: [sundial] failed: ok Bcc: victim@example.com"))
        #expect(headers.contains("Date: Fri, 15 Jan 2027 08:00:00 +0000"))
        #expect(headers.contains("To: a@example.com") && headers.contains("X-Sundial-Event: failed"))
        #expect(!mail.replacingOccurrences(of: "\r\n", with: "").contains("\n"))
        let accented = Alert(
            id: 1,
            draft: AlertDraft(
                event: .missed, subject: "task:1", channel: "m", summary: "café late", raisedBy: "e",
                dedupeWindow: .zero), createdAt: Self.created)
        let subject = String(
            decoding: AlertMessage(alert: accented, sentAt: Self.created).mail(from: "a@b", to: ["c@d"]), as: UTF8.self)
        #expect(subject.contains("Subject: =?utf-8?B?"))

        // Line ends of any kind become CRLF; a long one-line error is cut under SMTP's 998.
        var long = Self.alert
        long.draft.detail = "a\r\nb\rc\n" + String(repeating: "x", count: 2_500)
        let body = String(
            decoding: AlertMessage(alert: long, sentAt: Self.created).mail(from: "a@b", to: ["c@d"]), as: UTF8.self)
        #expect(body.contains("\r\na\r\nb\r\nc\r\n"))
        #expect(!body.contains("\r\r") && body.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 998 })
        #expect(body.components(separatedBy: "\r\n").filter { $0.hasPrefix("xxx") }.map(\.count) == [900, 900, 700])
    }

    @Test func theCommandSeesTheAlertInItsEnvironment() {
        let environment = message.environment
        #expect(environment["SUNDIAL_ALERT_EVENT"] == "failed" && environment["SUNDIAL_ALERT_ID"] == "42")
        #expect(environment["SUNDIAL_ALERT_TASK"] == "nightly <report>" && environment["SUNDIAL_ALERT_TASK_ID"] == "7")
        #expect(environment["SUNDIAL_ALERT_RUN_ATTEMPT"] == "3")
        #expect(environment["SUNDIAL_ALERT_DETAIL"] == "exit status 3 & more")
    }

    @Test func theSignatureIsHMACSHA256OfTimestampDotBody() {
        // Computed independently: python3 -c "import hmac,hashlib; print(hmac.new(b'k', b'1700000000.{\"a\":1}', hashlib.sha256).hexdigest())"
        let body = Data(#"{"a":1}"#.utf8)
        let signature = WebhookSignature.sign(body: body, timestamp: 1_700_000_000, secret: "k")
        #expect(signature == "sha256=1b6ad1bc9bf48c52ce01939866d5877c6cc4e87ddad27e16673cb8c4964394a3")
        #expect(WebhookSignature.isValid(signature, body: body, timestamp: 1_700_000_000, secret: "k"))
        #expect(!WebhookSignature.isValid(signature, body: body, timestamp: 1_700_000_001, secret: "k"))
        #expect(
            !WebhookSignature.isValid(signature, body: Data(#"{"a":2}"#.utf8), timestamp: 1_700_000_000, secret: "k"))
    }
}
