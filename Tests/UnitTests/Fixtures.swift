import Foundation
import JSON

/// Files under Tests/Fixtures (see its README).
enum Fixtures {
    /// A file of the Scale reference data, parsed.
    static func scale(_ name: String) throws -> JSON {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/scale/\(name)")
        return try JSON.parse(Array(try Data(contentsOf: url)))
    }
}
