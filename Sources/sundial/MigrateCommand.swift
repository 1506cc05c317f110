import ArgumentParser
import Foundation
import SundialMySQLStore
import SundialSchedule

/// `sundial migrate [--status]`.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations to the primary, or list them with --status.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var logging: LoggingOptions

    @Flag(help: "List applied and pending migrations; change nothing.")
    var status = false

    @Option(
        help: ArgumentHelp(
            "Folder of NNNN_description.sql files. (env: SUNDIAL_MIGRATIONS_DIR; default: migrations/mysql here or beside the binary)",
            valueName: "dir"))
    var migrationsDir: String?

    func run() throws {
        let logger = try logging.makeLogger(label: "sundial.migrate")
        let directory = try MigrationsDirectory.locate(
            explicit: migrationsDir ?? Environment.value("SUNDIAL_MIGRATIONS_DIR"))
        let store = try database.openStore(logger: logger)
        defer { store.close() }
        do {
            let migrator = Migrator(store: store, files: try MigrationFile.load(from: directory), logger: logger)
            if status {
                for entry in try migrator.status() {
                    print(Self.line(entry))
                }
                return
            }
            let applied = try migrator.migrate()
            print(
                applied.isEmpty
                    ? "Nothing to apply: the schema is up to date."
                    : "Applied \(applied.count) migration(s): \(applied.map(\.name).joined(separator: ", "))")
        } catch let error as MigrationError {
            throw CommandFailure(error.message)
        } catch let error as CustomStringConvertible & Error {
            throw CommandFailure(error.description)
        }
    }

    static func line(_ entry: Migrator.Entry) -> String {
        let version = String(format: "%04d", entry.version)
        switch entry.state {
        case .applied(let at): return "applied  \(version)  \(entry.name)  \(RFC3339.format(at))"
        case .pending: return "pending  \(version)  \(entry.name)"
        case .changed(let at):
            return "CHANGED  \(version)  \(entry.name)  applied \(RFC3339.format(at)), file edited since"
        case .missing(let at):
            return "missing  \(version)  \(entry.name)  applied \(RFC3339.format(at)), file not found"
        }
    }
}

/// Finds the migrations folder.
enum MigrationsDirectory {
    static func locate(explicit: String?) throws -> URL {
        let fm = FileManager.default
        if let explicit {
            guard fm.fileExists(atPath: explicit) else {
                throw ValidationError("migrations directory \(explicit) does not exist")
            }
            return URL(fileURLWithPath: explicit)
        }
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: fm.currentDirectoryPath).appendingPathComponent("migrations/mysql"),
            executable.appendingPathComponent("../share/sundial/migrations/mysql").standardized,
            executable.appendingPathComponent("migrations/mysql"),
        ]
        guard let found = candidates.first(where: { fm.fileExists(atPath: $0.path) }) else {
            throw ValidationError(
                "no migrations directory found (looked in \(candidates.map(\.path).joined(separator: ", "))); pass --migrations-dir"
            )
        }
        return found
    }
}

/// A failure to report on standard error with exit status 1, without a stack of type names.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
