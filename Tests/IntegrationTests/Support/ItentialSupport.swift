import JSON
import XCTest

enum ItentialSupport {
    /// Asserts an Itential error: the status, and a `{"message", "data"}` body whose message
    /// starts with `prefix` when given.
    static func assertMessage(_ response: HTTPResponse, _ status: Int, _ prefix: String? = nil,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        let message = response.json?["message"]?.stringValue
        XCTAssertNotNil(message, response.text, file: file, line: line)
        if let prefix { XCTAssertTrue(message?.hasPrefix(prefix) ?? false, "\(message ?? "")", file: file, line: line) }
    }
}
