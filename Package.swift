// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "sundial",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sundial", targets: ["sundial"]),
        .executable(name: "sundial-supervise", targets: ["sundial-supervise"]),
        .executable(name: "sundial-sim", targets: ["sundial-sim"]),
        .library(name: "SundialSchedule", targets: ["SundialSchedule"]),
        .library(name: "SundialCore", targets: ["SundialCore"]),
        .library(name: "SundialActions", targets: ["SundialActions"]),
        .library(name: "SundialMySQL", targets: ["SundialMySQL"]),
        .library(name: "SundialMySQLStore", targets: ["SundialMySQLStore"]),
        .library(name: "SundialMemoryStore", targets: ["SundialMemoryStore"]),
        .library(name: "SundialExecutor", targets: ["SundialExecutor"]),
        .library(name: "SundialTesting", targets: ["SundialTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // MariaDB Connector/C (Debian: default-libmysqlclient-dev), found through pkg-config.
        .systemLibrary(
            name: "CMariaDB",
            pkgConfig: "libmariadb",
            providers: [.apt(["default-libmysqlclient-dev"])]
        ),

        // libcurl (Debian: libcurl4-openssl-dev), for the webhook and email alert channels.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // glibc calls Swift's Glibc module hides (pipe2, posix_spawn's chdir and closefrom).
        .target(name: "CSundialSystem"),

        // Pure: cron expressions, intervals, one-shots, time zones. No I/O.
        .target(name: "SundialSchedule"),

        // Pure: the domain (task rows, claims, runs, executors), the fire planner and the rule
        // for finishing a row, and the store protocols every store implements. No I/O.
        .target(name: "SundialCore", dependencies: ["SundialSchedule"]),

        // What tasks do: shell (with its supervisor), http, the built-ins; task validation.
        .target(
            name: "SundialActions",
            dependencies: ["CSundialSystem", "SundialSupervisor", "SundialSchedule", "SundialCore"]
        ),

        // The MySQL driver: connections, prepared statements, pools and the read/write split.
        .target(
            name: "SundialMySQL",
            dependencies: [
                "CMariaDB",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The MySQL mapper: the store protocols over the driver, and the migrations. The only
        // place besides the driver that speaks SQL.
        .target(
            name: "SundialMySQLStore",
            dependencies: [
                "SundialCore",
                "SundialMySQL",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),

        // The store protocols in memory, on a clock you drive, with injected faults.
        .target(name: "SundialMemoryStore", dependencies: ["SundialCore"]),

        // The process that watches each shell command: the C library only, so it starts fast.
        .target(name: "SundialSupervisor", dependencies: ["CSundialSystem"]),
        .executableTarget(
            name: "sundial-supervise", dependencies: ["SundialSupervisor"],
            // One starts per shell run: linked statically (no shared library to load and link),
            // it costs about 0.7 ms instead of 3.1 (a `true` costs 0.7). The linker's warning
            // about dlopen in static programs concerns code the supervisor never calls.
            linkerSettings: [.unsafeFlags(["-static-executable"])]),

        // The runtime: the leader/follower pool, the executor's threads, leases, the run
        // recorder, the Service; the admin operations. Depends on store protocols only.
        .target(
            name: "SundialExecutor",
            dependencies: [
                "SundialCore",
                "SundialActions",
                "SundialSchedule",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Alert delivery: the settings file, the webhook, email and command channels, and the
        // dispatcher that claims stored alerts and delivers them.
        .target(
            name: "SundialAlerts",
            dependencies: [
                "CCurl",
                "SundialCore",
                "SundialActions",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Operations over HTTP: Prometheus metrics and health probes, one Hummingbird server.
        .target(
            name: "SundialOperations",
            dependencies: [
                "SundialExecutor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // The REST API's types and server protocol, generated at build time from the OpenAPI
        // document written first (openapi.json, also served as it is).
        .target(
            name: "SundialAPI",
            dependencies: [.product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            resources: [.copy("openapi.json")],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),

        // The web console and the REST API: pages, sessions, API tokens, roles, the audit log.
        // Reaches tasks and runs through the store protocols only, on threads of its own.
        .target(
            name: "SundialWeb",
            dependencies: [
                "SundialCore",
                "SundialSchedule",
                "SundialActions",
                "SundialExecutor",
                "SundialAPI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdOTP", package: "hummingbird-auth"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Templates"), .copy("Static")]
        ),

        // The deterministic fault simulation: executors on a virtual clock against the in-memory
        // store, and `sundial-sim` to run seeds of it.
        .target(
            name: "SundialSimulation",
            dependencies: [
                "SundialCore", "SundialActions", "SundialAlerts", "SundialExecutor", "SundialMemoryStore",
                "SundialSchedule",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "sundial-sim",
            dependencies: [
                "SundialSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // The `sundial` command: subcommands wire the libraries together.
        .executableTarget(
            name: "sundial",
            dependencies: [
                "SundialSchedule",
                "SundialCore",
                "SundialActions",
                "SundialExecutor",
                "SundialMySQLStore",
                "SundialOperations",
                "SundialAlerts",
                "SundialWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // Helpers for tests that need a real MariaDB, child processes and threads of their own.
        .target(
            name: "SundialTesting",
            dependencies: [
                "SundialMySQL",
                "SundialMySQLStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Benchmarks are programs, not tests: `swift run -c release sundial-bench --help`.
        .executableTarget(
            name: "sundial-bench",
            dependencies: [
                "CMariaDB",
                "SundialSchedule",
                "SundialCore",
                "SundialActions",
                "SundialMySQL",
                "SundialMySQLStore",
                "SundialExecutor",
                "SundialTesting",
                "SundialWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
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
            dependencies: ["SundialMySQL", "SundialMySQLStore", "SundialTesting"]
        ),
        .testTarget(
            name: "SundialSupervisorTests",
            dependencies: ["SundialSupervisor"]
        ),
        .testTarget(
            name: "SundialExecutorTests",
            dependencies: [
                "SundialCore", "SundialActions", "SundialExecutor", "SundialSchedule", "SundialMySQL",
                "SundialMySQLStore", "SundialMemoryStore", "SundialTesting", "SundialAlerts",
            ]
        ),
        // The store conformance suite, run against the in-memory store and a real MariaDB.
        .testTarget(
            name: "SundialStoreTests",
            dependencies: ["SundialCore", "SundialMySQLStore", "SundialMemoryStore", "SundialTesting"]
        ),
        .testTarget(name: "SundialCoreTests", dependencies: ["SundialCore", "SundialSchedule"]),
        // The alert channels against real receivers (a local HTTP server, a STARTTLS mail server).
        .testTarget(
            name: "SundialAlertsTests",
            dependencies: ["SundialAlerts", "SundialActions", "SundialCore", "SundialMemoryStore", "SundialTesting"]
        ),
        .testTarget(name: "SundialSimulationTests", dependencies: ["SundialSimulation"]),
        .testTarget(
            name: "SundialWebTests",
            dependencies: [
                "SundialWeb", "SundialCore", "SundialExecutor", "SundialActions", "SundialMemoryStore",
                "SundialTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "SundialOperationsTests",
            dependencies: [
                "SundialOperations", "SundialExecutor", "SundialCore", "SundialActions", "SundialMemoryStore",
                "SundialTesting",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ]
)
