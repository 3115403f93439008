import Foundation
import JSON
import XCTest

/// Helpers shared by the Scale tests.
enum ScaleSupport {
    /// A file of the Scale reference data (Tests/Fixtures/scale).
    static func data(_ name: String) throws -> JSON {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fixtures/scale/\(name)")
        return try JSON.parse(Array(try Data(contentsOf: url)))
    }

    /// A Scale error: the status and a `{"detail": "…"}` body.
    static func assertDetail(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        XCTAssertNotNil(response.json?["detail"]?.stringValue, response.text, file: file, line: line)
    }
}
