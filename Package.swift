// swift-tools-version:6.0
import PackageDescription

// Layers, bottom up: C shims → FastCGI / Postgres / JSON → HTTP → Engine → one module per API
// surface → the `flowgate` executable that wires them together.
let package = Package(
    name: "Flowgate",
    products: [
        .executable(name: "flowgate", targets: ["Flowgate"]),
        // A fuzz target per parser; ops/fuzz builds it with libFuzzer (see Sources/FlowgateFuzz).
        .executable(name: "flowgate-fuzz", targets: ["FlowgateFuzz"]),
    ],
    targets: [
        .systemLibrary(name: "CFastCGI", path: "Sources/CFastCGI"),
        .systemLibrary(name: "CLibFuzzer", path: "Sources/CLibFuzzer"),
        .systemLibrary(name: "CLibPQ", path: "Sources/CLibPQ", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        .target(name: "CSpawn"),
        .target(name: "JSON"),
        .target(name: "Log", dependencies: ["JSON"]),
        .target(name: "JSONSchema", dependencies: ["JSON"]),
        .target(name: "FastCGI", dependencies: ["CFastCGI"]),
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        .target(name: "Sandbox", dependencies: ["CSpawn"]),
        .target(name: "HTTP", dependencies: ["JSON", "Postgres", "Log"]),
        .target(name: "Engine", dependencies: ["JSON", "Postgres", "Log"]),
        .target(name: "SurfaceSupport", dependencies: ["HTTP", "Engine"]),
        .target(name: "NativeAPI", dependencies: ["HTTP", "Engine", "JSON", "SurfaceSupport"]),
        .target(name: "BlocksAPI", dependencies: ["HTTP", "Engine", "JSON", "Sandbox"]),
        .target(name: "ScaleAPI", dependencies: ["HTTP", "Engine", "JSON", "JSONSchema"]),
        .target(name: "WorkflowManagerAPI", dependencies: ["HTTP", "Engine", "JSON"]),
        .target(name: "ItentialAPI", dependencies: ["HTTP", "Engine", "JSON", "JSONSchema", "SurfaceSupport"]),
        .executableTarget(name: "Flowgate",
                          dependencies: ["FastCGI", "Postgres", "HTTP", "Engine", "NativeAPI", "BlocksAPI", "ScaleAPI", "WorkflowManagerAPI", "ItentialAPI", "Log", "JSON", "Sandbox", "CSpawn"]),
        .executableTarget(name: "FlowgateFuzz",
                          dependencies: ["CLibFuzzer", "JSON", "JSONSchema", "HTTP", "Engine", "ScaleAPI", "WorkflowManagerAPI", "ItentialAPI"]),
        // Tests/Fixtures holds copies of the specs' reference data the tests read.
        .testTarget(name: "UnitTests", dependencies: ["JSON", "JSONSchema", "HTTP", "Engine", "BlocksAPI", "Sandbox", "Log", "ScaleAPI", "WorkflowManagerAPI", "ItentialAPI"]),
        // Clients/ holds the scripts real client packages run against the stack.
        .testTarget(name: "IntegrationTests", dependencies: ["JSON", "Postgres", "Engine", "BlocksAPI"], exclude: ["Clients"]),
    ],
    swiftLanguageModes: [.v6]
)
