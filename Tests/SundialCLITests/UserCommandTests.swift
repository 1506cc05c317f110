import Foundation
import SundialMySQL
import SundialTesting
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `sundial user …` and `sundial web` end to end against a real MariaDB.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.hasDatabase))
struct UserCommandTests {
    static let name = "sundial_test_cli_users"
    let db: Database
    let environment: [String: String]

    init() throws {
        db = try IntegrationEnvironment.migratedDatabase(Self.name)
        environment = try Sundial.environment(database: Self.name)
    }

    @Test func usersAreAddedWithAPasswordFromStandardInputAndOnlyAsAHash() throws {
        let added = try Sundial.run(
            ["user", "add", "alice", "--role", "operator", "--tags", "billing"], environment: environment,
            input: "correct horse battery\n")
        #expect(added.status == 0, "\(added.standardError)")
        #expect(added.standardOutput == "added alice (operator)\n")
        let short = try Sundial.run(
            ["user", "add", "bob", "--role", "viewer"], environment: environment, input: "short\n")
        #expect(short.status != 0)
        #expect(short.standardError.contains("at least 12 characters"))
        let twice = try Sundial.run(
            ["user", "add", "alice", "--role", "viewer"], environment: environment, input: "another long password\n")
        #expect(twice.standardError.contains("already exists"))
        let badRole = try Sundial.run(
            ["user", "add", "carol", "--role", "root"], environment: environment, input: "x\n")
        #expect(badRole.status != 0 && badRole.standardError.contains("viewer, operator or admin"))

        let list = try Sundial.run(["user", "list"], environment: environment)
        #expect(list.standardOutput.contains("alice") && list.standardOutput.contains("tags: billing"))
        let stored = try db.query("SELECT password_hash FROM console_user WHERE name = 'alice'", consistency: .primary)
        let hash = try #require(stored.first?["password_hash"].string)
        #expect(hash.hasPrefix("$2") && hash.contains("$12$") && !hash.contains("correct horse"))

        let changed = try Sundial.run(
            ["user", "passwd", "alice"], environment: environment, input: "a brand new passphrase\n")
        #expect(changed.status == 0)
        let audit = try db.query("SELECT actor, action FROM audit_log ORDER BY id", consistency: .primary)
        #expect(audit.map { $0["action"].string ?? "" } == ["user.create", "user.password"])
        #expect(audit.allSatisfy { $0["actor"].string == "cli" })
    }

    @Test func theWebCommandServesTheLoginPageFromItsOwnResources() throws {
        let port = 20_000 + Int(getpid() % 10_000)
        let (process, html) = try startAndFetch(["web", "--web-listen", "127.0.0.1:\(port)"], port: port)
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        #expect(html.contains("Sign in to Sundial"))
        #expect(html.contains("name=\"_csrf\""))
    }

    @Test func theServeCommandRunsAnExecutorAndTheConsoleAndStopsOnSIGTERM() throws {
        let port = 30_000 + Int(getpid() % 10_000)
        let (process, html) = try startAndFetch(
            ["serve", "--web-listen", "127.0.0.1:\(port)", "--listen", "off", "--id", "serve-test"], port: port)
        #expect(html.contains("Sign in to Sundial"))
        let registered = try db.query(
            "SELECT state FROM cron_executor WHERE id LIKE 'serve-test%'", consistency: .primary
        ).first?["state"].string
        #expect(registered == "running")
        let asked = ContinuousClock.now
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(ContinuousClock.now - asked < .seconds(20), "the console must not hold the shutdown up")
        let state = try db.query("SELECT state FROM cron_executor WHERE id LIKE 'serve-test%'", consistency: .primary)
            .first?["state"].string
        #expect(state == "stopped")
    }

    /// Starts `sundial ARGUMENTS` and waits for its login page on `port`.
    private func startAndFetch(_ arguments: [String], port: Int) throws -> (Process, String) {
        let process = Process()
        process.executableURL = Sundial.binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = FileHandle.nullDevice
        try process.run()
        var page: String?
        for _ in 0..<150 where page == nil {
            page = (try? Data(contentsOf: URL(string: "http://127.0.0.1:\(port)/login")!)).map {
                String(decoding: $0, as: UTF8.self)
            }
            if page == nil { Thread.sleep(forTimeInterval: 0.1) }
        }
        guard let page else {
            process.terminate()
            process.waitUntilExit()
            throw CommandFailureInTest("sundial \(arguments.joined(separator: " ")) served nothing on port \(port)")
        }
        return (process, page)
    }
}

struct CommandFailureInTest: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
