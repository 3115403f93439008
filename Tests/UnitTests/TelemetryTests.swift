import XCTest

@testable import FlowgateApp
@testable import HTTP

/// The metrics the registry renders: names, labels and types as README lists them.
final class TelemetryTests: XCTestCase {
    override class func setUp() {
        Telemetry.bootstrap(instance: "unit")
    }

    func testRequestsAreCountedByRoutePatternWithBoundedLabels() throws {
        let application = Application<Void>(
            surfaces: [
                Surface(
                    name: "demo", owns: Surface<Void>.ownsPrefix(["demo"]),
                    routes: [Route("GET", "/demo/items/{id}") { _, _ in .json(["ok": true]) }], renderError: NativeErrorShape.render)
            ])
        for id in ["1", "2", "3"] {
            _ = application.respond(method: "GET", target: "/demo/items/\(id)", headers: [:], body: [], context: ())
        }
        _ = application.respond(method: "BREW", target: "/demo/nothing-\(UUID())", headers: [:], body: [], context: ())
        let text = Telemetry.registry.emitToString()
        XCTAssertTrue(
            text.contains(
                #"flowgate_http_requests_total{surface="demo",route="/demo/items/{id}",method="GET",status="200",flowgate_instance="unit"} 3"#
            ),
            text)
        XCTAssertTrue(
            text.contains(#"flowgate_http_requests_total{surface="demo",route="unmatched",method="other",status="404""#),
            "an unknown method and path add no series of their own")
        XCTAssertFalse(text.contains("nothing-"))
        XCTAssertTrue(text.contains("# TYPE flowgate_http_request_duration_seconds histogram"))
        XCTAssertTrue(
            text.contains(
                #"flowgate_http_request_duration_seconds_count{surface="demo",route="/demo/items/{id}",flowgate_instance="unit"} 3"#))
    }

    func testTheProcessIsReadFromProcAndCPUTimeOnlyGrows() throws {
        let stat = "4242 (flow gate) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 17 0 9000 123456789 3000 0"
        let fields = try XCTUnwrap(ProcessFigures.parse(stat: stat), "a name with spaces and parentheses")
        XCTAssertEqual(fields.cpuTicks, 300)
        XCTAssertEqual(fields.threads, 17)
        XCTAssertEqual(fields.startTicks, 9000)
        XCTAssertEqual(fields.virtualBytes, 123_456_789)
        XCTAssertEqual(fields.residentPages, 3000)
        XCTAssertNil(ProcessFigures.parse(stat: "4242 (short) S 1 2"))

        let figures = try XCTUnwrap(ProcessFigures.read())
        XCTAssertGreaterThan(figures.residentBytes, 1_000_000)
        XCTAssertGreaterThan(figures.threads, 0)
        figures.record()
        ProcessFigures(
            residentBytes: 1, virtualBytes: 1, threads: 1, openDescriptors: 1, cpuSeconds: 0, startTimeSeconds: 1
        ).record()
        let text = Telemetry.registry.emitToString()
        XCTAssertTrue(text.contains("# TYPE process_cpu_seconds_total counter"))
        let cpu = try XCTUnwrap(
            text.split(separator: "\n").first { $0.hasPrefix("process_cpu_seconds_total{") }.flatMap {
                Double($0.split(separator: " ").last!)
            })
        XCTAssertEqual(cpu, figures.cpuSeconds, accuracy: 1e-9, "a lower reading later does not count backwards")
        XCTAssertTrue(text.contains(#"process_open_fds{flowgate_instance="unit"} 1"#))
    }
}
