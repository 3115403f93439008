// swift-tools-version:6.0
import PackageDescription

// Layers, bottom up: C shims → FastCGI / Postgres / JSON → HTTP; the core Engine → one domain
// module per vendor → one HTTP surface module per API → FlowgateApp, which wires an instance,
// and the `flowgate` executable (see ARCHITECTURE.md).
let package = Package(
    name: "Flowgate",
    products: [
        .executable(name: "flowgate", targets: ["Flowgate"]),
        // A fuzz target per parser; ops/fuzz builds it with libFuzzer (see Sources/FlowgateFuzz).
        .executable(name: "flowgate-fuzz", targets: ["FlowgateFuzz"]),
    ],
    // SwiftNIO for the one protocol FastCGI cannot carry: WebSockets (see Sources/WebSocketServer).
    // swift-argument-parser for the `flowgate` command line.
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(name: "CFastCGI", path: "Sources/CFastCGI"),
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .systemLibrary(
            name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .target(name: "CSpawn"),
        .target(name: "JSON"),
        .target(name: "Log", dependencies: ["JSON"]),
        .target(name: "JSONSchema", dependencies: ["JSON"]),
        .target(name: "FastCGI", dependencies: ["CFastCGI"]),
        .target(name: "Postgres", dependencies: ["CLibPQ", "Log"]),
        .target(name: "Sandbox", dependencies: ["CSpawn"]),
        .target(name: "HTTP", dependencies: ["JSON", "Postgres", "Log"]),
        .target(
            name: "WebSocketServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        // The core: accounts, jobs, tasks, the state machine, flows, the runner, files, history.
        .target(name: "Engine", dependencies: ["JSON", "Postgres", "Log"]),
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
                "WorkflowManagerAPI", "ItentialAPI", "Sandbox", "Postgres", "WebSocketServer",
            ]),
        .executableTarget(
            name: "Flowgate",
            dependencies: [
                "FlowgateApp", "FastCGI", "Postgres", "HTTP", "Engine", "Scale", "WorkflowManager", "Itential", "Log", "JSON",
                "Sandbox", "CSpawn", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "FlowgateFuzz",
            dependencies: [
                "CLibFuzzer", "JSON", "JSONSchema", "HTTP", "Engine", "Scale", "WorkflowManager", "Itential", "ScaleAPI", "ItentialAPI",
            ]),
        // Tests/Fixtures holds copies of the specs' reference data the tests read.
        .testTarget(
            name: "UnitTests",
            dependencies: [
                "JSON", "JSONSchema", "HTTP", "Engine", "Sandbox", "Log", "Blocks", "Scale", "WorkflowManager",
                "Itential", "BlocksAPI", "ScaleAPI", "WorkflowManagerAPI", "ItentialAPI",
            ]),
        // Clients/ holds the scripts real client packages run against the stack.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["JSON", "Postgres", "Engine", "Blocks", "Itential", "Scale", "WorkflowManager", "HTTP", "FlowgateApp"],
            exclude: ["Clients"]),
    ],
    swiftLanguageModes: [.v6]
)
