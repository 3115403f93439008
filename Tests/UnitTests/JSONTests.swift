import JSON
import XCTest

final class JSONTests: XCTestCase {
    func testKeepsKeyOrderAndNumberSpelling() throws {
        let text = #"{"z":1,"a":-420.0000061035156,"m":-209,"e":1E+2,"s":"x\"y\\\n\u00e9\ud83d\ude00"}"#
        let value = try JSON.parse(text)
        XCTAssertEqual(value.objectValue?.map(\.0), ["z", "a", "m", "e", "s"])
        XCTAssertEqual(value["s"]?.stringValue, "x\"y\\\né😀")
        XCTAssertEqual(value.serialized, #"{"z":1,"a":-420.0000061035156,"m":-209,"e":1E+2,"s":"x\"y\\\né😀"}"#)
    }

    func testRefusesMalformedDocuments() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "\"\\x\"", "\"\u{01}\"", "tru", "[1] 2", "\"\\ud800\""] {
            XCTAssertThrowsError(try JSON.parse(bad), bad)
        }
    }

    func testRefusesDeepNesting() {
        XCTAssertThrowsError(try JSON.parse(String(repeating: "[", count: 300) + String(repeating: "]", count: 300)))
        XCTAssertNoThrow(try JSON.parse(String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }

    func testNumbersAndAccessors() throws {
        XCTAssertEqual(JSON.number(5.0).serialized, "5")
        XCTAssertEqual(JSON.number(2.5).serialized, "2.5")
        XCTAssertEqual(try JSON.parse("3").intValue, 3)
        XCTAssertNil(try JSON.parse("3.5").intValue)
        XCTAssertEqual(JSON.object([("a", 1)]).setting("b", to: 2).setting("a", to: 3).serialized, #"{"a":3,"b":2}"#)
        XCTAssertEqual(try JSON.parse(#"{"a":1,"b":2}"#), try JSON.parse(#"{"b":2,"a":1}"#))
        XCTAssertEqual(JSON.string("\u{1F}").serialized, #""\u001f""#)
        XCTAssertEqual(
            JSON.string("\t\r\u{0}\u{7F}ü").serializedBytes, Array("\"\\t\\r\\u0000\u{7F}ü\"".utf8), "DEL and letters stay as they are")
    }
}
