import ArgumentParser
import Foundation
import SundialCore
import SundialWeb

/// `sundial user`: console users from the command line (the first admin comes from here).
struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user",
        abstract: "Add console users, set their passwords, list them, make API tokens.",
        subcommands: [Add.self, Passwd.self, List.self, Token.self])

    /// The new password: asked twice on a terminal (not echoed), else the first line of stdin.
    static func readPassword() throws -> String {
        if isatty(STDIN_FILENO) == 1 {
            guard let first = getpass("Password (12 characters or more): ").map({ String(cString: $0) }),
                let second = getpass("Again: ").map({ String(cString: $0) })
            else { throw CommandFailure("no password given") }
            guard first == second else { throw CommandFailure("the two passwords differ") }
            return first
        }
        guard let line = readLine(strippingNewline: true), !line.isEmpty else {
            throw CommandFailure("no password on standard input")
        }
        return line
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user; the password is asked for, or read from standard input.")
        @OptionGroup var common: StoreOptions
        @Argument(help: "The name to sign in with.") var name: String
        @Option(help: "viewer, operator or admin.") var role: String
        @Option(help: "Limit the role to tasks with one of these tags (comma-separated).") var tags: String?

        func run() throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role takes viewer, operator or admin, not '\(role)'")
            }
            let password = try UserCommand.readPassword()
            try common.withUsers {
                try $0.add(name: name, role: role, scope: TaskScope(stored: tags), password: password, by: "cli")
            }
            print("added \(name) (\(role.rawValue))")
        }
    }

    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a user's password (asked for, or read from standard input); their sessions end.")
        @OptionGroup var common: StoreOptions
        @Argument var name: String

        func run() throws {
            let password = try UserCommand.readPassword()
            try common.withUsers { try $0.setPassword(name: name, password: password, by: "cli") }
            print("password of \(name) changed")
        }
    }

    struct Token: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an API token for a user and print it (this once: only its hash is kept).")
        @OptionGroup var common: StoreOptions
        @Argument(help: "The user the token acts for.") var name: String
        @Option(help: "viewer, operator or admin; at most the user's.") var role: String
        @Option(help: "What the token is for.") var label = "command line"
        @Option(help: "Days until it expires (1 to 1095).") var days = 90

        func run() throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role takes viewer, operator or admin, not '\(role)'")
            }
            guard (1...1095).contains(days) else { throw ValidationError("--days takes 1 to 1095") }
            let secret = try common.withUsers { users in
                try users.makeToken(
                    owner: try users.named(name), name: label, role: role, lifetime: .seconds(days * 86_400), by: "cli"
                ).secret
            }
            print(secret)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var common: StoreOptions

        func run() throws {
            let users = try common.withUsers { try $0.store.users() }
            for user in users {
                print(
                    user.name.padding(toLength: max(20, user.name.count + 1), withPad: " ", startingAt: 0)
                        + user.role.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + (user.disabled ? "disabled " : "active   ") + (user.scope.stored.map { "tags: \($0)" } ?? ""))
            }
        }
    }
}
