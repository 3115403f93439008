import XCTest

@testable import Log

final class LogTests: XCTestCase {
    func testPlainValuesStayBareAndAnythingElseIsQuotedAndEscaped() {
        XCTAssertEqual(Log.escaped("trace-123"), "trace-123")
        XCTAssertEqual(Log.escaped(""), "\"\"")
        XCTAssertEqual(Log.escaped("a b"), "\"a b\"")
        XCTAssertEqual(Log.escaped("x status=500"), "\"x status=500\"", "no field can be forged")
        XCTAssertEqual(Log.escaped("end\" forged=1"), "\"end\\\" forged=1\"")
        XCTAssertEqual(Log.escaped("line\nnext\r\t"), "\"line\\nnext\\r\\t\"", "no value ends the line")
        XCTAssertEqual(Log.escaped("bell\u{07}"), "\"bell\\u0007\"")
        XCTAssertEqual(Log.escaped("back\\slash"), "\"back\\\\slash\"")
        XCTAssertEqual(Log.escaped("Grüße"), "Grüße")
    }
}
