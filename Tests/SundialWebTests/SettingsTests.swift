import Foundation
import Hummingbird
import HummingbirdOTP
import HummingbirdTesting
import SundialCore
import SundialWeb
import Testing

/// A user's own settings: time zone, password, second factor.
@Suite struct SettingsTests {
    static func code(_ secret: String) -> String { String(format: "%06d", TOTP(secret: secret).compute(date: Date())) }

    /// The key a settings page shows for typing into an app (base32 in groups), as the key itself.
    static func shownKey(_ page: String) -> String? {
        guard let range = page.range(of: #"<code id="totp-key">[A-Z2-7 ]+</code>"#, options: .regularExpression)
        else { return nil }
        let base32 = page[range].dropFirst(#"<code id="totp-key">"#.count).dropLast("</code>".count)
            .filter { $0 != " " }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var (bits, count, bytes) = (0, 0, [UInt8]())
        for character in base32 {
            guard let value = alphabet.firstIndex(of: character) else { return nil }
            (bits, count) = ((bits << 5) | value, count + 5)
            if count >= 8 {
                bytes.append(UInt8((bits >> (count - 8)) & 0xFF))
                count -= 8
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func theTimeZoneChosenIsTheOnePagesShowTimesIn() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("viewer")
            let page = try await browser.get("/settings").text
            #expect(page.contains(#"<option value="UTC" selected>"#) && page.contains("Asia/Tokyo"))
            let saved = try await browser.post("/settings/timezone", [("timezone", "Asia/Tokyo")])
            #expect(saved.headers[.location]?.hasPrefix("/settings?notice=") == true)
            #expect(try harness.store.user(named: "viewer")?.timeZone == "Asia/Tokyo")
            #expect(try await browser.get("/settings").text.contains(#"<option value="Asia/Tokyo" selected>"#))
            let refused = try await browser.post("/settings/timezone", [("timezone", "Mars/Olympus")])
            #expect(refused.status == .unprocessableContent && refused.text.contains("unknown time zone"))
            #expect(try harness.store.user(named: "viewer")?.timeZone == "Asia/Tokyo")
        }
    }

    @Test func aPasswordIsChangedOnlyWithTheCurrentOneAndEndsTheSession() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("operator")
            try await browser.get("/settings")
            let wrong = try await browser.post(
                "/settings/password",
                [("current", "not it at all"), ("new", "a brand new secret"), ("repeat", "a brand new secret")])
            #expect(wrong.status == .unprocessableContent && wrong.text.contains("the current password is wrong"))
            let changed = try await browser.post(
                "/settings/password",
                [("current", ConsoleHarness.password), ("new", "a brand new secret"), ("repeat", "a brand new secret")])
            #expect(changed.headers[.location]?.hasPrefix("/settings") == true)
            // The session opened with the old password has ended.
            #expect(try await browser.get("/tasks").status == .unauthorized)
            #expect(try await browser.signIn("operator").status == .unauthorized)
            #expect(try await browser.signIn("operator", password: "a brand new secret").status == .seeOther)
        }
    }

    @Test func aSecondFactorIsTurnedOnWithACodeThenAskedAtSignInAndTurnedOff() async throws {
        let harness = try await ConsoleHarness()
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("admin")
            try await browser.get("/settings")
            let start = try await browser.post("/settings/second-factor-start", []).text
            let secret = try #require(Self.shownKey(start))
            #expect(start.contains("otpauth://totp/Sundial:admin?secret="))
            // The key is in the session, not in the form: the page never takes it back.
            #expect(!start.contains(#"name="secret""#) && !start.contains(secret))
            // A wrong code, or no password, keeps the same key on the page and turns nothing on.
            let wrong = try await browser.post(
                "/settings/second-factor-on", [("current", ConsoleHarness.password), ("code", "000000")])
            #expect(wrong.status == .unprocessableContent && Self.shownKey(wrong.text) == secret)
            let noPassword = try await browser.post("/settings/second-factor-on", [("code", Self.code(secret))])
            #expect(
                noPassword.status == .unprocessableContent && noPassword.text.contains("type your current password"))
            #expect(try harness.store.user(named: "admin")?.totpSecret == nil)
            let on = try await browser.post(
                "/settings/second-factor-on", [("current", ConsoleHarness.password), ("code", Self.code(secret))])
            #expect(on.headers[.location]?.contains("second%20factor%20on") == true)
            #expect(try harness.store.user(named: "admin")?.totpSecret == secret)
            let audit = try harness.store.auditLog(AuditFilter(action: .userUpdate), before: nil, limit: 5)
            #expect(audit.first?.draft.detail == "second factor on")

            // Signing in now takes the code too.
            let other = Browser(client)
            let asked = try await other.signIn("admin")
            #expect(asked.text.contains(#"name="code""#))
            #expect(try await other.get("/tasks").status == .unauthorized)
            let signedIn = try await other.post("/login/code", [("code", Self.code(secret)), ("next", "/tasks")])
            #expect(signedIn.status == .seeOther)
            #expect(try await other.get("/tasks").status == .ok)

            // Off with the password and a code; a wrong code leaves it on.
            try await browser.get("/settings")
            let refused = try await browser.post(
                "/settings/second-factor-off", [("current", ConsoleHarness.password), ("code", "111111")])
            #expect(refused.status == .unprocessableContent)
            #expect(try harness.store.user(named: "admin")?.totpSecret == secret)
            try await browser.post(
                "/settings/second-factor-off", [("current", ConsoleHarness.password), ("code", Self.code(secret))])
            #expect(try harness.store.user(named: "admin")?.totpSecret == nil)
        }
    }

    @Test func anAdminRemovesTheSecondFactorOfAUserWhoLostTheirPhone() async throws {
        let harness = try await ConsoleHarness()
        let users = UserAdmin(store: harness.store)
        let secret = SecondFactor.newSecret()
        try users.setSecondFactor(name: "viewer", secret: secret, code: Self.code(secret), by: "test")
        try await harness.test { client in
            let browser = Browser(client)
            try await browser.signIn("admin")
            #expect(try await browser.get("/users").text.contains("Remove second factor"))
            try await browser.post("/users/second-factor-off", [("name", "viewer")])
            #expect(try harness.store.user(named: "viewer")?.totpSecret == nil)
            // An API token has no settings page.
            let token = try users.makeToken(
                owner: try users.named("admin"), name: "t", role: .admin, lifetime: .seconds(60), by: "test"
            ).secret
            let response = try await client.execute(
                uri: "/settings", method: .get, headers: [.authorization: "Bearer \(token)"], body: nil)
            #expect(response.status == .forbidden)
        }
    }
}
