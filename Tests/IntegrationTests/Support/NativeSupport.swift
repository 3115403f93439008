import XCTest

enum NativeSupport {
    /// Flowgate's own error shape: `{"error": {"status", "message"}}` with the status.
    static func assertError(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        XCTAssertEqual(response.header("content-type"), "application/json", file: file, line: line)
        XCTAssertEqual(response.json?["error"]?["status"]?.intValue, status, response.text, file: file, line: line)
        XCTAssertNotNil(response.json?["error"]?["message"]?.stringValue, response.text, file: file, line: line)
    }
}
