import Foundation
import SundialCore

/// The alert settings file (`--alerts FILE`, `SUNDIAL_ALERTS`): named channels, the defaults
/// every task's events and every fleet event go to, and the timing. JSON:
///
/// ```json
/// {
///   "defaults": ["ops"],
///   "late_seconds": 60,
///   "dedupe_seconds": 600,
///   "channels": {
///     "ops":   {"type": "webhook", "url": "https://hooks.slack.com/services/...", "template": "slack"},
///     "audit": {"type": "webhook", "url": "https://alerts.example.com/sundial", "secret_env": "SUNDIAL_WEBHOOK_SECRET"},
///     "mail":  {"type": "email", "smtp_url": "smtp://mail.example.com:587", "from": "sundial@example.com",
///               "to": ["oncall@example.com"], "username": "sundial", "password_env": "SMTP_PASSWORD"},
///     "pager": {"type": "command", "command": "/usr/local/bin/page-oncall", "events": ["failed", "dead", "missed"]}
///   }
/// }
/// ```
///
/// Secrets may be given inline (`secret`, `password`) or, better, named by environment variable
/// (`secret_env`, `password_env`).
public struct AlertSettings: Sendable, Equatable {
    public var channels: [String: ChannelSettings]
    public var defaults: [String]
    /// Environment variables the file names for secrets: withheld from jobs and alert commands.
    public var secretVariables: Set<String> = []
    public var lateAfter: Duration
    public var dedupeWindow: Duration

    public init(
        channels: [String: ChannelSettings] = [:], defaults: [String] = [], lateAfter: Duration = .seconds(60),
        dedupeWindow: Duration = .seconds(600)
    ) {
        (self.channels, self.defaults, self.lateAfter, self.dedupeWindow) = (
            channels, defaults, lateAfter, dedupeWindow
        )
    }

    /// What the executor needs to raise alerts: each channel's events, the defaults, the timing.
    public var routing: AlertRouting {
        AlertRouting(
            channels: channels.mapValues(\.events), defaults: defaults, lateAfter: lateAfter,
            dedupeWindow: dedupeWindow)
    }

    /// Reads and checks a settings file; every problem is reported with its place in the file.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(AlertSettingsError) -> AlertSettings
    {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw AlertSettingsError("cannot read the alert settings \(path): \(error.localizedDescription)")
        }
        return try parse(data, source: path, environment: environment)
    }

    /// Parses settings JSON (`source` names it in errors).
    public static func parse(_ data: Data, source: String, environment: [String: String]) throws(AlertSettingsError)
        -> AlertSettings
    {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch let error as DecodingError {
            throw AlertSettingsError("\(source): \(Self.describe(error))")
        } catch {
            throw AlertSettingsError("\(source): \(error)")
        }
        var settings = AlertSettings()
        for (name, channel) in file.channels ?? [:] {
            guard !name.isEmpty, name.count <= 64, !name.contains(",") else {
                throw AlertSettingsError("\(source): channel name \"\(name)\": use 1 to 64 characters and no comma")
            }
            settings.channels[name] = try channel.settings(name: name, source: source, environment: environment)
        }
        settings.defaults = file.defaults ?? []
        for name in settings.defaults where settings.channels[name] == nil {
            throw AlertSettingsError(
                "\(source): defaults names \"\(name)\", which is not a channel (channels: \(settings.channels.keys.sorted().joined(separator: ", ")))"
            )
        }
        for channel in (file.channels ?? [:]).values {
            settings.secretVariables.formUnion([channel.secret_env, channel.password_env].compactMap { $0 })
        }
        if let late = file.late_seconds {
            guard late.isFinite, late >= 0, late <= Self.longest else {
                throw AlertSettingsError("\(source): late_seconds must be from 0 to \(Int(Self.longest)) (a year)")
            }
            settings.lateAfter = .seconds(late)
        }
        if let window = file.dedupe_seconds {
            guard window.isFinite, window >= 0, window <= Self.longest else {
                throw AlertSettingsError("\(source): dedupe_seconds must be from 0 to \(Int(Self.longest)) (a year)")
            }
            settings.dedupeWindow = .seconds(window)
        }
        return settings
    }

    /// The longest time a setting may give: a year.
    static let longest: Double = 365 * 86_400

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context)).\(key.stringValue) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return
                "not valid JSON\(path(context).isEmpty ? "" : " at \(path(context))"): \(underlying ?? context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    // The file as written (snake_case keys).
    // swift-format-ignore: AlwaysUseLowerCamelCase
    private struct File: Decodable {
        var channels: [String: Channel]?
        var defaults: [String]?
        var late_seconds: Double?
        var dedupe_seconds: Double?
    }

    // swift-format-ignore: AlwaysUseLowerCamelCase
    private struct Channel: Decodable {
        var type: String
        var events: [String]?
        var timeout_seconds: Double?
        var attempts: Int?
        // webhook
        var url: String?
        var template: String?
        var secret: String?
        var secret_env: String?
        var headers: [String: String]?
        // email
        var smtp_url: String?
        var from: String?
        var to: [String]?
        var username: String?
        var password: String?
        var password_env: String?
        var starttls: Bool?
        var ca_file: String?
        // command
        var command: String?

        func settings(name: String, source: String, environment: [String: String]) throws(AlertSettingsError)
            -> ChannelSettings
        {
            let place = "\(source): channel \(name)"
            var events = Set(AlertEvent.allCases)
            if let listed = self.events {
                events = []
                for event in listed {
                    guard let known = AlertEvent(rawValue: event) else {
                        throw AlertSettingsError(
                            "\(place): unknown event \"\(event)\" (events: \(AlertEvent.allCases.map(\.rawValue).joined(separator: ", ")))"
                        )
                    }
                    events.insert(known)
                }
                events.insert(.test)
            }
            let timeout = timeout_seconds ?? 10
            guard timeout.isFinite, timeout > 0, timeout <= 3600 else {
                throw AlertSettingsError("\(place): timeout_seconds must be above 0 and at most 3600")
            }
            let attempts = self.attempts ?? 10
            guard (1...100).contains(attempts) else { throw AlertSettingsError("\(place): attempts must be 1 to 100") }
            func resolve(_ inline: String?, _ variable: String?, _ what: String) throws(AlertSettingsError) -> String? {
                guard let variable else { return inline }
                guard let value = environment[variable], !value.isEmpty else {
                    throw AlertSettingsError("\(place): \(what)_env names \(variable), which is not set")
                }
                return value
            }
            let kind: ChannelSettings.Kind
            switch type {
            case "webhook":
                guard let url, let parsed = URL(string: url),
                    ["http", "https"].contains(parsed.scheme?.lowercased() ?? "")
                else {
                    throw AlertSettingsError("\(place): a webhook needs \"url\", an http or https URL")
                }
                let template = WebhookTemplate(rawValue: self.template ?? "generic")
                guard let template else {
                    throw AlertSettingsError(
                        "\(place): template must be \"generic\" or \"slack\", not \"\(self.template!)\"")
                }
                kind = .webhook(
                    url: parsed, template: template, secret: try resolve(secret, secret_env, "secret"),
                    headers: headers ?? [:])
            case "email":
                guard let smtp_url, let parsed = URL(string: smtp_url),
                    ["smtp", "smtps"].contains(parsed.scheme?.lowercased() ?? ""),
                    parsed.host != nil
                else {
                    throw AlertSettingsError(
                        "\(place): an email channel needs \"smtp_url\" (smtp://host:587 or smtps://host:465)")
                }
                guard let from, !from.isEmpty else {
                    throw AlertSettingsError("\(place): an email channel needs \"from\"")
                }
                guard let to, !to.isEmpty else {
                    throw AlertSettingsError("\(place): an email channel needs \"to\" (a list)")
                }
                let tls = (starttls ?? true) || parsed.scheme?.lowercased() == "smtps"
                guard tls || (username == nil && password == nil && password_env == nil) else {
                    throw AlertSettingsError(
                        "\(place): a login would cross the network in clear: use STARTTLS (the default) or smtps://")
                }
                kind = .email(
                    EmailSettings(
                        server: parsed, from: from, to: to, username: username,
                        password: try resolve(password, password_env, "password"), startTLS: starttls ?? true,
                        caFile: ca_file))
            case "command":
                guard let command, !command.isEmpty else {
                    throw AlertSettingsError("\(place): a command channel needs \"command\"")
                }
                kind = .command(command)
            default:
                throw AlertSettingsError("\(place): type must be webhook, email or command, not \"\(type)\"")
            }
            return ChannelSettings(
                name: name, kind: kind, events: events, timeout: .seconds(timeout), attempts: attempts)
        }
    }
}

/// A settings file Sundial cannot use, and why.
public struct AlertSettingsError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One named channel.
public struct ChannelSettings: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case webhook(url: URL, template: WebhookTemplate, secret: String?, headers: [String: String])
        case email(EmailSettings)
        /// Run by `/bin/sh -c`.
        case command(String)
    }

    public var name: String
    public var kind: Kind
    /// The events it takes (`test` always).
    public var events: Set<AlertEvent>
    /// How long one delivery may take.
    public var timeout: Duration
    /// Deliveries tried before the alert is given up.
    public var attempts: Int

    public init(name: String, kind: Kind, events: Set<AlertEvent>, timeout: Duration, attempts: Int) {
        (self.name, self.kind, self.events, self.timeout, self.attempts) = (name, kind, events, timeout, attempts)
    }
}

/// Where and how an email channel sends.
public struct EmailSettings: Sendable, Equatable {
    /// smtp://host:port (STARTTLS when `startTLS`) or smtps://host:port (TLS from the start).
    public var server: URL
    public var from: String
    public var to: [String]
    public var username: String?
    public var password: String?
    /// Refuse to send unless the server upgrades the connection to TLS (STARTTLS). On by default.
    public var startTLS: Bool
    /// Certificates to trust for the server, instead of the system's.
    public var caFile: String?

    public init(
        server: URL, from: String, to: [String], username: String? = nil, password: String? = nil,
        startTLS: Bool = true, caFile: String? = nil
    ) {
        (self.server, self.from, self.to, self.username, self.password) = (server, from, to, username, password)
        (self.startTLS, self.caFile) = (startTLS, caFile)
    }
}

/// The shape of a webhook's body.
public enum WebhookTemplate: String, Sendable, Equatable {
    /// The alert as a JSON object (documented in the README).
    case generic
    /// `{"text": ...}` with Slack's markup, which Slack, Mattermost and Rocket.Chat take.
    case slack
}
