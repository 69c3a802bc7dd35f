// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

/// How every executable is linked in a release build on Linux: with the toolchain's lld, and with the relative
/// relocations of a position-independent executable packed (DT_RELR, glibc 2.36 and later, as in Debian 12). Unpacked,
/// they are some 3 MB of each executable that the loader reads at every start and that stays resident.
///
/// And exporting none of its own symbols: `--static-swift-stdlib` links with `-export-dynamic`, which puts every
/// global symbol of our code and our dependencies' (some 49,000 in the orchestrator) in the dynamic symbol table, about
/// 3 MB that every symbol look-up of the C libraries at start touches. Nothing loads against an executable of ours, and
/// a crash's backtrace names functions from `.symtab`, not from that table.
let linkerSettings: [LinkerSetting] = [
    .unsafeFlags(
        ["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs", "-Xlinker", "--no-export-dynamic"],
        .when(platforms: [.linux], configuration: .release)),
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let lifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let metrics = Target.Dependency.product(name: "Metrics", package: "swift-metrics")
let tracing = Target.Dependency.product(name: "Tracing", package: "swift-distributed-tracing")
let otel = Target.Dependency.product(name: "OTel", package: "swift-otel")

/// One service: a library target (what tests import) and a thin executable over it.
func service(_ name: String, executable: String, dependencies: [Target.Dependency]) -> [Target] {
    [
        .target(
            name: name,
            dependencies: dependencies + [metrics],
            path: "Services/\(name)/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: executable,
            dependencies: [.target(name: name), "ServiceSupport"],
            path: "Services/\(name)/Main",
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
    ]
}

let package = Package(
    name: "greenlight",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "greenlight-intake", targets: ["greenlight-intake"]),
        .executable(name: "greenlight-orchestrator", targets: ["greenlight-orchestrator"]),
        .executable(name: "greenlight-notifier", targets: ["greenlight-notifier"]),
        .executable(name: "greenlight-callbacks", targets: ["greenlight-callbacks"]),
        .executable(name: "greenlight-dev-broker", targets: ["greenlight-dev-broker"]),
        .executable(name: "greenlight-mail-sink", targets: ["greenlight-mail-sink"]),
        .executable(name: "greenlight", targets: ["greenlight"]),
        .executable(name: "greenlight-loadgen", targets: ["greenlight-loadgen"]),
        .executable(name: "greenlight-faults", targets: ["greenlight-faults"]),
        .library(name: "GreenlightClient", targets: ["GreenlightClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Traces only, exported over OTLP/HTTP: the gRPC exporter (the default trait OTLPGRPC) would add grpc-swift and
        // its HTTP/2 transport to every build.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // The Model Context Protocol's Swift SDK, for `greenlight mcp` (its JSON-RPC and stdio transport).
        .package(url: "https://github.com/modelcontextprotocol/swift-sdk.git", from: "0.12.1"),
    ],
    targets: [
        // MARK: - Shared

        .target(
            name: "GreenlightModels", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/Models", swiftSettings: swiftSettings),
        .systemLibrary(
            name: "CRdKafka",
            path: "Shared/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(name: "Kafka", dependencies: ["CRdKafka", logging], path: "Shared/Kafka", swiftSettings: swiftSettings),
        .systemLibrary(
            name: "CLibPQ",
            path: "Shared/CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(name: "Postgres", dependencies: ["CLibPQ", logging], path: "Shared/Postgres", swiftSettings: swiftSettings),
        // glibc's malloc.h (malloc_trim), for ServiceSupport's heap trimmer.
        .systemLibrary(name: "CMalloc", path: "Shared/CMalloc"),
        .systemLibrary(
            name: "CCurl",
            path: "Shared/CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(
            name: "Mail",
            dependencies: ["CCurl", "GreenlightModels", logging],
            path: "Shared/Mail",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "MailSink",
            dependencies: [
                logging,
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            path: "Shared/MailSink",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ApprovalStore",
            dependencies: [
                "GreenlightModels", "Postgres", "DurableExecution", logging, .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Shared/ApprovalStore",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DurableExecution",
            dependencies: ["GreenlightModels", "Postgres", "Kafka", logging],
            path: "Shared/DurableExecution",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Templates",
            dependencies: [.product(name: "Mustache", package: "swift-mustache")],
            path: "Shared/Templates",
            // A resource bundle (greenlight_Templates.resources) next to the executables: deploy/Dockerfile copies it.
            resources: [.copy("Defaults")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ServiceSupport",
            dependencies: [
                "GreenlightModels", "Kafka", "Postgres", "DurableExecution", "Templates", "CMalloc", hummingbird, logging,
                lifecycle, metrics, tracing, otel,
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // The Slack Web API client the notifier and the callback receiver share.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Shared/ServiceSupport",
            swiftSettings: swiftSettings
        ),

        // MARK: - Clients

        .target(
            name: "GreenlightClient",
            dependencies: ["GreenlightModels", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "clients/swift/Sources",
            swiftSettings: swiftSettings
        ),

        // MARK: - Services

        .executableTarget(
            name: "greenlight-dev-broker",
            dependencies: ["Kafka", "GreenlightModels", logging],
            path: "Services/DevBroker",
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
        .executableTarget(
            name: "greenlight-bench-seed",
            dependencies: ["Orchestrator", "ApprovalStore", "DurableExecution", "Postgres", "GreenlightModels", logging],
            path: "Services/BenchSeed",
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
        .target(
            name: "GreenlightCLI",
            dependencies: [
                "GreenlightModels", "GreenlightClient", "Kafka", "DurableExecution", "ServiceSupport", "ApprovalStore",
                "Postgres", "Callbacks", logging, .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "MCP", package: "swift-sdk"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Services/CLI/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "greenlight",
            dependencies: ["GreenlightCLI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Services/CLI/Main",
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
        .target(
            name: "LoadGen",
            dependencies: [
                "GreenlightModels", "Kafka", "MailSink", "ServiceSupport", logging,
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Services/LoadGen/Sources",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "greenlight-loadgen",
            dependencies: [
                "LoadGen", "GreenlightModels", logging, .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/LoadGen/Main",
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
        .executableTarget(
            name: "greenlight-mail-sink",
            dependencies: ["MailSink", logging],
            path: "Services/MailSinkMain",
            swiftSettings: swiftSettings,
            linkerSettings: linkerSettings
        ),
    ]
        + service(
            "Intake",
            executable: "greenlight-intake",
            dependencies: [
                "GreenlightModels", "Kafka", "Postgres", "ApprovalStore", "DurableExecution", "ServiceSupport", hummingbird,
            ]
        )
        + service(
            "Orchestrator",
            executable: "greenlight-orchestrator",
            dependencies: [
                "GreenlightModels", "Kafka", "Postgres", "ApprovalStore", "DurableExecution", "ServiceSupport", hummingbird,
                lifecycle,
            ]
        )
        + service(
            "Notifier",
            executable: "greenlight-notifier",
            dependencies: [
                "GreenlightModels", "Kafka", "Mail", "Postgres", "DurableExecution", "ServiceSupport", "Templates", hummingbird,
                tracing, lifecycle,
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        )
        + service(
            "Callbacks",
            executable: "greenlight-callbacks",
            dependencies: [
                "GreenlightModels", "Kafka", "Postgres", "ApprovalStore", "DurableExecution", "ServiceSupport", "Templates",
                hummingbird, lifecycle, .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        )
        + [
            // MARK: - Tests

            .target(
                name: "GreenlightTestSupport",
                dependencies: [
                    "Kafka", "Postgres", "MailSink", "GreenlightModels", logging, hummingbird,
                    .product(name: "AsyncHTTPClient", package: "async-http-client"),
                ],
                path: "Tests/Support",
                swiftSettings: swiftSettings
            ),
            .executableTarget(
                name: "greenlight-faults",
                dependencies: ["GreenlightTestSupport", "GreenlightModels", "Kafka", "Postgres", "MailSink", logging],
                path: "Tests/FaultSuite",
                swiftSettings: swiftSettings,
                linkerSettings: linkerSettings
            ),
            .testTarget(
                name: "ModelsTests",
                dependencies: ["GreenlightModels", "Mail", "MailSink", "ServiceSupport"],
                path: "Tests/ModelsTests",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "KafkaTests",
                dependencies: ["Kafka", "GreenlightTestSupport"],
                path: "Tests/KafkaTests",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "PostgresTests",
                dependencies: ["Postgres", "ApprovalStore", "GreenlightTestSupport"],
                path: "Tests/PostgresTests",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ServiceTests",
                dependencies: [
                    "Intake", "Callbacks", "Orchestrator", "Notifier", "Mail", "MailSink", "GreenlightTestSupport",
                    "ApprovalStore", "ServiceSupport", "Templates", "LoadGen", "Kafka", logging, tracing,
                    .product(name: "HummingbirdTesting", package: "hummingbird"),
                    .product(name: "Yams", package: "Yams"),
                    .product(name: "Crypto", package: "swift-crypto"),
                    .product(name: "MetricsTestKit", package: "swift-metrics"),
                ],
                path: "Tests/ServiceTests",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "ClientTests",
                dependencies: [
                    "GreenlightClient", "GreenlightModels", "GreenlightTestSupport", hummingbird,
                    .product(name: "Yams", package: "Yams"),
                ],
                path: "Tests/ClientTests",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "DurableTests",
                dependencies: ["DurableExecution", "Postgres", "GreenlightModels", "GreenlightTestSupport"],
                path: "Tests/DurableTests",
                swiftSettings: swiftSettings
            ),
            .testTarget(
                name: "EndToEndTests",
                dependencies: [
                    "GreenlightTestSupport", "GreenlightModels", "GreenlightClient", "Kafka", "MailSink", "Postgres",
                    .product(name: "Crypto", package: "swift-crypto"),
                ],
                path: "Tests/EndToEndTests",
                swiftSettings: swiftSettings
            ),
        ]
)
