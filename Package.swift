// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "sundial",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sundial", targets: ["sundial"]),
        .executable(name: "sundial-supervise", targets: ["sundial-supervise"]),
        .library(name: "SundialSchedule", targets: ["SundialSchedule"]),
        .library(name: "SundialMySQL", targets: ["SundialMySQL"]),
        .library(name: "SundialMigrations", targets: ["SundialMigrations"]),
        .library(name: "SundialExecutor", targets: ["SundialExecutor"]),
        .library(name: "SundialTesting", targets: ["SundialTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // MariaDB Connector/C (Debian: default-libmysqlclient-dev), found through pkg-config.
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["default-libmysqlclient-dev"])]
        ),

        // glibc calls Swift's Glibc module hides (pipe2, posix_spawn's chdir and closefrom).
        .target(name: "CSundialSystem"),

        // Pure: cron expressions, intervals, one-shots, time zones. No I/O.
        .target(name: "SundialSchedule"),

        // Connections, prepared statements, pools and the read/write split over MySQL/MariaDB.
        .target(
            name: "SundialMySQL",
            dependencies: [
                "CMariaDB",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Plain SQL migration files applied in order, checksummed (SHA-256, computed by the server), under a named lock.
        .target(
            name: "SundialMigrations",
            dependencies: [
                "SundialMySQL",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The process that watches each shell command: the C library only, so it starts fast.
        .target(name: "SundialSupervisor", dependencies: ["CSundialSystem"]),
        .executableTarget(name: "sundial-supervise", dependencies: ["SundialSupervisor"]),

        // The executor: claims, the leader/follower pool, leases, actions, run history.
        .target(
            name: "SundialExecutor",
            dependencies: [
                "CSundialSystem",
                "SundialSupervisor",
                "SundialSchedule",
                "SundialMySQL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // The `sundial` command: subcommands wire the libraries together.
        .executableTarget(
            name: "sundial",
            dependencies: [
                "SundialSchedule",
                "SundialExecutor",
                "SundialMySQL",
                "SundialMigrations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Helpers for tests that need a real MariaDB, child processes and threads of their own.
        .target(
            name: "SundialTesting",
            dependencies: [
                "SundialMySQL",
                "SundialMigrations",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks are programs, not tests: `swift run -c release sundial-bench --help`.
        .executableTarget(
            name: "sundial-bench",
            dependencies: [
                "CMariaDB",
                "SundialSchedule",
                "SundialMySQL",
                "SundialMigrations",
                "SundialExecutor",
                "SundialTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/sundial-bench"
        ),

        .testTarget(
            name: "SundialScheduleTests",
            dependencies: [
                "SundialSchedule",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        // Integration tests: they run against a real MariaDB when SUNDIAL_TEST_DATABASE_URL is set
        // (deploy/dev/run-tests sets it), and are skipped otherwise.
        // Runs the built `sundial` binary as a user would.
        .testTarget(
            name: "SundialCLITests",
            dependencies: ["SundialMySQL", "SundialTesting"]
        ),
        .testTarget(
            name: "SundialMySQLTests",
            dependencies: ["SundialMySQL", "SundialMigrations", "SundialTesting"]
        ),
        .testTarget(
            name: "SundialSupervisorTests",
            dependencies: ["SundialSupervisor"]
        ),
        .testTarget(
            name: "SundialExecutorTests",
            dependencies: ["SundialExecutor", "SundialSchedule", "SundialMySQL", "SundialTesting"]
        ),
    ]
)
