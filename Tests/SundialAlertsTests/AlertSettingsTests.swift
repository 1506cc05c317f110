import Foundation
import SundialAlerts
import SundialCore
import Testing

@Suite struct AlertSettingsTests {
    func parse(_ json: String, environment: [String: String] = [:]) throws(AlertSettingsError) -> AlertSettings {
        try AlertSettings.parse(Data(json.utf8), source: "alerts.json", environment: environment)
    }

    func error(_ json: String, environment: [String: String] = [:]) -> String {
        do {
            _ = try parse(json, environment: environment)
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func aFullFileBecomesChannelsDefaultsAndTiming() throws {
        let settings = try parse(
            """
            {"defaults": ["ops"], "late_seconds": 30, "dedupe_seconds": 120,
             "channels": {
               "ops": {"type": "webhook", "url": "https://hooks.example.com/x", "template": "slack", "secret_env": "HOOK_SECRET"},
               "mail": {"type": "email", "smtp_url": "smtp://mail.example.com:587", "from": "Sundial <s@example.com>",
                        "to": ["a@example.com"], "username": "s", "password_env": "SMTP_PASSWORD", "ca_file": "/etc/ca.pem"},
               "pager": {"type": "command", "command": "page-oncall", "events": ["failed", "missed"], "timeout_seconds": 5, "attempts": 3}
             }}
            """, environment: ["HOOK_SECRET": "s3", "SMTP_PASSWORD": "pw"])
        #expect(settings.defaults == ["ops"])
        #expect(settings.secretVariables == ["HOOK_SECRET", "SMTP_PASSWORD"])
        #expect(settings.lateAfter == .seconds(30) && settings.dedupeWindow == .seconds(120))
        #expect(
            settings.channels["ops"]?.kind
                == .webhook(
                    url: URL(string: "https://hooks.example.com/x")!, template: .slack, secret: "s3", headers: [:]))
        guard case .email(let mail)? = settings.channels["mail"]?.kind else {
            Issue.record("mail is not an email channel")
            return
        }
        #expect(mail.password == "pw" && mail.startTLS && mail.caFile == "/etc/ca.pem" && mail.to == ["a@example.com"])
        let pager = try #require(settings.channels["pager"])
        #expect(pager.events == [.failed, .missed, .test] && pager.attempts == 3 && pager.timeout == .seconds(5))
        #expect(settings.channels["ops"]?.events == Set(AlertEvent.allCases))
        let routing = settings.routing
        #expect(routing.defaults == ["ops"] && routing.channels["pager"] == [.failed, .missed, .test])
    }

    @Test func everyMistakeIsNamedWithItsPlace() {
        #expect(error("{").hasPrefix("alerts.json: not valid JSON"))
        #expect(
            error(#"{"channels": {"x": {"type": "pigeon"}}}"#)
                == "alerts.json: channel x: type must be webhook, email or command, not \"pigeon\"")
        #expect(
            error(#"{"channels": {"x": {"type": "webhook"}}}"#)
                == "alerts.json: channel x: a webhook needs \"url\", an http or https URL")
        #expect(error(#"{"channels": {"x": {"type": "webhook", "url": "ftp://a/b"}}}"#).contains("http or https URL"))
        #expect(
            error(#"{"channels": {"x": {"type": "command", "command": "true", "events": ["failed", "exploded"]}}}"#)
                .hasPrefix("alerts.json: channel x: unknown event \"exploded\""))
        #expect(
            error(#"{"defaults": ["nope"], "channels": {}}"#).hasPrefix(
                "alerts.json: defaults names \"nope\", which is not a channel"))
        #expect(
            error(#"{"channels": {"x": {"type": "webhook", "url": "http://a", "secret_env": "UNSET_SECRET"}}}"#)
                == "alerts.json: channel x: secret_env names UNSET_SECRET, which is not set")
        #expect(
            error(#"{"channels": {"x": {"type": "email", "smtp_url": "smtp://m", "to": ["a@b"]}}}"#).contains(
                "needs \"from\""))
        #expect(
            error(#"{"channels": {"x": {"type": "command", "command": "true", "timeout_seconds": 0}}}"#).contains(
                "timeout_seconds"))
        #expect(error(#"{"late_seconds": -1}"#) == "alerts.json: late_seconds must be from 0 to 31536000 (a year)")
        #expect(
            error(#"{"dedupe_seconds": 1e300}"#) == "alerts.json: dedupe_seconds must be from 0 to 31536000 (a year)")
        #expect(
            error(
                #"{"channels": {"m": {"type": "email", "smtp_url": "smtp://m:25", "from": "a@b", "to": ["c@d"], "starttls": false, "username": "u", "password": "p"}}}"#
            )
                == "alerts.json: channel m: a login would cross the network in clear: use STARTTLS (the default) or smtps://"
        )
        #expect(error(#"{"channels": {"a,b": {"type": "command", "command": "true"}}}"#).contains("no comma"))
        #expect(error(#"{"channels": {"x": {"events": []}}}"#) == "alerts.json: .channels.x.type is missing")
    }
}
