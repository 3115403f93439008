// swift-tools-version:6.0
import PackageDescription

// Layers, bottom up: C shims → FastCGI / Postgres / JSON → HTTP; the core Engine → one domain
// module per vendor → one HTTP surface module per API → FlowgateApp, which wires an instance,
// and the `flowgate` executable (see ARCHITECTURE.md).
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let metrics = Target.Dependency.product(name: "CoreMetrics", package: "swift-metrics")

let package = Package(
    name: "Flowgate",
    products: [
        .executable(name: "flowgate", targets: ["Flowgate"]),
        // A fuzz target per parser; ops/fuzz builds it with libFuzzer (see Sources/FlowgateFuzz).
        .executable(name: "flowgate-fuzz", targets: ["FlowgateFuzz"]),
        // The request path's parts timed in process; ops/bench unit runs it.
        .executable(name: "flowgate-microbench", targets: ["FlowgateMicrobench"]),
    ],
    // SwiftNIO for the one protocol FastCGI cannot carry: WebSockets (see Sources/WebSocketServer).
    // swift-argument-parser for the `flowgate` command line; swift-log and swift-metrics as the
    // logging and metrics APIs every module speaks, with swift-prometheus as the metrics backend.
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(name: "CFastCGI", path: "Sources/CFastCGI"),
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .systemLibrary(
            name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .target(name: "CSpawn"),
        .target(name: "JSON"),
        .target(name: "Log", dependencies: ["JSON", logging]),
        .target(name: "JSONSchema", dependencies: ["JSON"]),
        .target(name: "FastCGI", dependencies: ["CFastCGI", metrics]),
        .target(name: "Postgres", dependencies: ["CLibPQ", logging, metrics]),
        .target(name: "Sandbox", dependencies: ["CSpawn"]),
        .target(name: "HTTP", dependencies: ["JSON", "Postgres", logging, metrics]),
        .target(
            name: "WebSocketServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        // The core: accounts, jobs, tasks, the state machine, flows, the runner, files, history.
        .target(name: "Engine", dependencies: ["JSON", "Postgres", logging, metrics]),
        // One domain module per vendor: its tables, SQL and rules, on the core.
        .target(name: "Blocks", dependencies: ["Engine", "JSON", "Sandbox"]),
        .target(name: "Scale", dependencies: ["Engine", "JSON", "JSONSchema", "Postgres"]),
        .target(name: "WorkflowManager", dependencies: ["Engine", "JSON", "Postgres"]),
        .target(name: "Itential", dependencies: ["Engine", "JSON", "JSONSchema", "Postgres"]),
        // One HTTP surface per API: routes onto the domain.
        .target(name: "SurfaceSupport", dependencies: ["HTTP", "Engine"]),
        .target(name: "NativeAPI", dependencies: ["HTTP", "Engine", "JSON", "SurfaceSupport"]),
        .target(name: "BlocksAPI", dependencies: ["HTTP", "Engine", "Blocks", "JSON", "Sandbox"]),
        .target(name: "ScaleAPI", dependencies: ["HTTP", "Engine", "Scale", "JSON"]),
        .target(
            name: "WorkflowManagerAPI", dependencies: ["HTTP", "Engine", "WorkflowManager", "JSON", "WebSocketServer"]),
        .target(name: "ItentialAPI", dependencies: ["HTTP", "Engine", "Itential", "JSON", "SurfaceSupport"]),
        // What an instance serves, wired from its configuration (the executable and the tests).
        .target(
            name: "FlowgateApp",
            dependencies: [
                "FastCGI", "HTTP", "Engine", "Blocks", "Scale", "WorkflowManager", "Itential", "NativeAPI", "BlocksAPI", "ScaleAPI",
                "WorkflowManagerAPI", "ItentialAPI", "Sandbox", "Postgres", "WebSocketServer", logging, metrics,
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        .executableTarget(
            name: "Flowgate",
            dependencies: [
                "FlowgateApp", "FastCGI", "Postgres", "HTTP", "Engine", "Scale", "WorkflowManager", "Itential", "Log", "JSON",
                "Sandbox", "CSpawn", logging, .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "FlowgateFuzz",
            dependencies: [
                "CLibFuzzer", "JSON", "JSONSchema", "HTTP", "Engine", "Scale", "WorkflowManager", "Itential", "ScaleAPI", "ItentialAPI",
            ]),
        .executableTarget(name: "FlowgateMicrobench", dependencies: ["FlowgateApp", "Engine", "HTTP", "JSON"]),
        // Tests/Fixtures holds copies of the specs' reference data the tests read.
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "JSON", "JSONSchema", "HTTP", "Engine", "Sandbox", "Log", "Blocks", "Scale", "WorkflowManager",
                "Itential", "BlocksAPI", "ScaleAPI", "WorkflowManagerAPI", "ItentialAPI", "FlowgateApp", logging,
            ]),
        // Clients/ holds the scripts real client packages run against the stack.
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "JSON", "Postgres", "Engine", "Blocks", "Itential", "Scale", "WorkflowManager", "HTTP", "FlowgateApp", "NativeAPI",
            ],
            exclude: ["Clients"]),
    ],
    swiftLanguageModes: [.v6]
)
