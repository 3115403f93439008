import Foundation
import Logging
import XCTest

@testable import Log

final class LogTests: XCTestCase {
    func testPlainValuesStayBareAndAnythingElseIsQuotedAndEscaped() {
        XCTAssertEqual(LineLogHandler.escaped("trace-123"), "trace-123")
        XCTAssertEqual(LineLogHandler.escaped(""), "\"\"")
        XCTAssertEqual(LineLogHandler.escaped("a b"), "\"a b\"")
        XCTAssertEqual(LineLogHandler.escaped("x status=500"), "\"x status=500\"", "no field can be forged")
        XCTAssertEqual(LineLogHandler.escaped("end\" forged=1"), "\"end\\\" forged=1\"")
        XCTAssertEqual(LineLogHandler.escaped("line\nnext\r\t"), "\"line\\nnext\\r\\t\"", "no value ends the line")
        XCTAssertEqual(LineLogHandler.escaped("bell\u{07}"), "\"bell\\u0007\"")
        XCTAssertEqual(LineLogHandler.escaped("back\\slash"), "\"back\\\\slash\"")
        XCTAssertEqual(LineLogHandler.escaped("Grüße"), "Grüße")
    }

    /// A logger's metadata (a request's id) is on every line it writes, beside the event's own,
    /// in one sorted, escaped line.
    func testALineCarriesTheLoggersMetadataAndTheEventsSorted() throws {
        var handler = LineLogHandler(instance: "flowgate-1", logLevel: .info)
        handler[metadataKey: "request_id"] = "abc-1"
        let line = handler.line(.warning, "database unavailable", ["path": "/v6/jobs/", "error": "gone away"])
        let match = try XCTUnwrap(line.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)\n/))
        XCTAssertEqual(
            String(match.1), "warning instance=flowgate-1 database unavailable error=\"gone away\" path=/v6/jobs/ request_id=abc-1")
        XCTAssertTrue(handler.line(.info, "request", ["request_id": "given"]).hasSuffix(" request_id=given\n"), "the event's own wins")
        XCTAssertEqual(handler.line(.info, "x", nil).filter { $0 == "\n" }.count, 1)
    }

    /// The hand-written digits say the time as ISO 8601 does, in UTC, zero-padded.
    func testTheTimestampIsNowInUTCToTheMillisecond() throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let stamp = LineLogHandler.timestamp()
        XCTAssertNotNil(stamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/), stamp)
        let written = try XCTUnwrap(formatter.date(from: stamp), stamp)
        XCTAssertLessThan(abs(written.timeIntervalSinceNow), 2)
    }
}
