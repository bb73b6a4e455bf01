// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "Charter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "charter", targets: ["charter"]),
        .library(name: "CharterDomain", targets: ["CharterDomain"]),
        .library(name: "CharterMath", targets: ["CharterMath"]),
        .library(name: "CharterCompiler", targets: ["CharterCompiler"]),
        .library(name: "CharterStore", targets: ["CharterStore"]),
        .library(name: "CharterInput", targets: ["CharterInput"]),
        .library(name: "CharterSQLite", targets: ["CharterSQLite"]),
        .library(name: "CharterPostgres", targets: ["CharterPostgres"]),
        .library(name: "CharterPipeline", targets: ["CharterPipeline"]),
        .library(name: "CharterServices", targets: ["CharterServices"]),
        .library(name: "CharterHTTP", targets: ["CharterHTTP"]),
        .library(name: "CharterConfiguration", targets: ["CharterConfiguration"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"4.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation.git", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .target(name: "CharterDomain", swiftSettings: strict),
        .target(name: "CharterMath", swiftSettings: strict),
        .target(
            name: "CharterCompiler",
            dependencies: ["CharterMath", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        .target(name: "CharterStore", dependencies: ["CharterDomain"], swiftSettings: strict),
        // The readers of outside input (forms, multipart, zip, Polis CSV, the vote's JSON): pure
        // and small, so the libFuzzer build compiles them without the server stack.
        .target(
            name: "CharterInput",
            dependencies: ["CharterDomain", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: strict
        ),
        .target(
            name: "CharterSQLite",
            dependencies: [
                "CharterDomain", "CharterStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for reading an analysis snapshot's votes without row objects.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CharterPostgres",
            dependencies: [
                "CharterDomain", "CharterStore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CharterPipeline",
            dependencies: [
                "CharterDomain", "CharterCompiler", "CharterStore",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The use cases (analysis, constitution building, export, participant flags) over the
        // storage interface, shared by the web layer and the command line.
        .target(
            name: "CharterServices",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterMath", "CharterCompiler",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "CharterHTTP",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterMath", "CharterCompiler", "CharterPipeline", "CharterInput",
                "CharterServices",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            resources: [.copy("Templates"), .copy("Catalogues"), .copy("openapi.json")],
            swiftSettings: strict
        ),
        // The settings of the commands (flags, CHARTER_* variables, defaults) in one table, read
        // into typed values; no I/O.
        .target(
            name: "CharterConfiguration",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterInput", "CharterHTTP", "CharterPipeline", "CharterServices",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "charter",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterSQLite", "CharterPostgres", "CharterHTTP", "CharterMath",
                "CharterCompiler", "CharterPipeline", "CharterInput", "CharterServices", "CharterConfiguration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "charter-bench-floor",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "scripts/bench/floor",
            swiftSettings: strict
        ),
        // libFuzzer entry point for the readers of outside input (scripts/fuzz builds it with
        // -sanitize=fuzzer,address); built plainly, it replays a corpus.
        .executableTarget(
            name: "charter-fuzz",
            dependencies: ["CharterDomain", "CharterInput"],
            path: "Fuzz/charter-fuzz",
            swiftSettings: strict
        ),
        .target(
            name: "CharterTestSupport",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterSQLite", "CharterHTTP", "CharterPipeline", "CharterCompiler",
                "CharterServices", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            path: "Tests/CharterTestSupport",
            swiftSettings: strict
        ),
        // The behaviour every storage back end must have, as a library each back end's tests run.
        .target(
            name: "CharterStoreContract",
            dependencies: ["CharterDomain", "CharterStore"],
            path: "Tests/CharterStoreContract",
            swiftSettings: strict
        ),
        .testTarget(name: "CharterMathTests", dependencies: ["CharterMath", "CharterDomain"], swiftSettings: strict),
        .testTarget(
            name: "CharterCompilerTests", dependencies: ["CharterCompiler", "CharterMath"], swiftSettings: strict),
        .testTarget(
            name: "CharterPipelineTests",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterSQLite", "CharterPipeline", "CharterCompiler",
                "CharterTestSupport", .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: strict
        ),
        .testTarget(name: "CharterDomainTests", dependencies: ["CharterDomain"], swiftSettings: strict),
        .testTarget(
            name: "CharterSQLiteTests",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterSQLite", "CharterTestSupport", "CharterStoreContract",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CharterPostgresTests",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterPostgres", "CharterStoreContract", "CharterSQLite",
                "CharterHTTP", "CharterServices", "CharterTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CharterHTTPTests",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterSQLite", "CharterHTTP", "CharterTestSupport", "CharterMath",
                "CharterInput", "CharterServices",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CharterConfigurationTests",
            dependencies: [
                "CharterConfiguration", "CharterDomain", "CharterStore", "CharterInput", "CharterHTTP",
                "CharterPipeline",
                "CharterServices", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CharterEndToEndTests",
            dependencies: [
                "CharterDomain", "CharterStore", "CharterSQLite", "CharterHTTP", "CharterTestSupport",
                "CharterServices",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
    ]
)
