import HTTP
import JSON
import JSONSchema
import Postgres
import XCTest

@testable import Blocks
@testable import BlocksAPI
@testable import Engine
@testable import Itential
@testable import Scale
@testable import ScaleAPI
@testable import WorkflowManager
@testable import WorkflowManagerAPI

/// Inputs that used to trap, overflow the stack or reach PostgreSQL as a 500, each refused as a
/// client error instead.
final class HostileInputTests: XCTestCase {
    func testJSONRefusesNULInStrings() {
        XCTAssertThrowsError(try JSON.parse(#"{"username": "admin\u0000junk"}"#))
        XCTAssertThrowsError(try JSON.parse(#"["\u0000"]"#))
        XCTAssertEqual(try JSON.parse(#"["\u0001"]"#), ["\u{01}"], "other escapes still work")
    }

    func testAScalePageBeyondAnyPossibleOffsetIsNotFound() throws {
        for page in ["9223372036854775807", "92233720368547759", "-1", "0", "x"] {
            let request = try Request(method: "GET", target: "/v6/jobs/?page=\(page)", headers: [:], body: [])
            XCTAssertThrowsError(try Pagination(request).page(request, fetch: { _, _ in (0, [Int]()) }, render: { .number($0) })) { error in
                XCTAssertEqual((error as? HTTPError)?.status, 404, page)
            }
        }
    }

    func testScaleTimesBeyondPostgreSQLsBoundsAreRefused() throws {
        for value in [
            "P99999999999999999999D", "PT99999999999H", "2024-01-01T00:00+99:99", "2024-01-01T00:00+16", "2024-01-01T00:00-00:60",
        ] {
            let request = try Request(
                method: "GET", target: "/v6/jobs/?started=\(value.replacingOccurrences(of: "+", with: "%2B"))",
                headers: [:], body: [])
            XCTAssertThrowsError(try ScaleJobsAPI.time(request, "started"), value)
        }
        for value in ["P1D", "PT12H30M", "2024-01-01T00:00Z", "2024-01-01T00:00:00.5+15:59", "2024-01-01T00:00-0530"] {
            let request = try Request(
                method: "GET", target: "/v6/jobs/?started=\(value.replacingOccurrences(of: "+", with: "%2B"))",
                headers: [:], body: [])
            XCTAssertEqual(try ScaleJobsAPI.time(request, "started"), value)
        }
    }

    func testAWorkflowManagerQueryIsBoundedInDepthConditionsAndValues() throws {
        func parse(_ q: String) throws -> JobCondition {
            var parser = try JobQueryParser(q, currentUser: "ann")
            return try parser.parse()
        }
        XCTAssertThrowsError(try parse(String(repeating: "(", count: 200_000) + "closed=0" + String(repeating: ")", count: 200_000)))
        XCTAssertThrowsError(try parse(String(repeating: "NOT ", count: 100_000) + "closed=0"))
        XCTAssertThrowsError(try parse(Array(repeating: "closed=0", count: 30_001).joined(separator: " AND ")))
        XCTAssertThrowsError(try parse("jobName IN (" + Array(repeating: "'x'", count: 70_000).joined(separator: ",") + ")"))
        XCTAssertNoThrow(try parse(String(repeating: "(", count: 32) + "closed=0" + String(repeating: ")", count: 32)))
        XCTAssertNoThrow(try parse(Array(repeating: "closed=0", count: 200).joined(separator: " OR ")))
    }

    func testTimestampsBeyondFourDigitYearsAreClampedNotTrapped() {
        XCTAssertEqual(Timestamp.format(1e300), "9999-12-31T23:59:59Z")
        XCTAssertEqual(Timestamp.format(-.infinity), "0000-01-01T00:00:00Z")
        XCTAssertEqual(Timestamp.format(.nan), "1970-01-01T00:00:00Z")
        XCTAssertEqual(Timestamp.formatMilliseconds(.infinity), "9999-12-31T23:59:59.000Z")
    }
}

final class SchemaWorkTests: XCTestCase {
    func testExponentialSchemasStopAtTheStepBudget() throws {
        var definitions: [(String, JSON)] = [("d0", ["type": "string"])]
        for level in 1...30 {
            definitions.append(
                (
                    "d\(level)",
                    [
                        "allOf": [
                            ["$ref": .string("#/definitions/d\(level - 1)")],
                            ["$ref": .string("#/definitions/d\(level - 1)")],
                        ]
                    ]
                ))
        }
        let doubling = JSONSchema(.object([("definitions", .object(definitions)), ("$ref", "#/definitions/d30")]))
        let selfReferencing = JSONSchema(["anyOf": [["$ref": "#"], ["$ref": "#"]]])
        // The budget, not the 2^30 checks the schema asks for, ends the walk (no clock: a loaded
        // machine must not fail it).
        for schema in [doubling, selfReferencing] {
            XCTAssertEqual(schema.validate(42).map(\.keyword), ["budget"])
        }
        XCTAssertEqual(doubling.validate("fine").map(\.keyword), ["budget"], "even a valid instance needs the checks")
        XCTAssertTrue(JSONSchema(["type": "object", "properties": ["a": ["type": "integer"]]]).isValid(["a": 1]))
    }
}

final class BlocksRegistrationTests: XCTestCase {
    func testClosedRegistrationRefusesBeforeTouchingTheDatabase() throws {
        let users = BlocksUsers(tokenLifetimeSeconds: 60, registrationOpen: false)
        let request = try Request(method: "POST", target: "/api/users/register", headers: [:], body: [])
        // A session that never connects: the refusal must come first.
        let session = Session(connectingLater: "host=/nonexistent", surfaces: SurfaceRegistry([]))
        XCTAssertThrowsError(try users.register(request, session)) { error in
            XCTAssertEqual((error as? HTTPError)?.status, 403)
            XCTAssertEqual((error as? HTTPError)?.body, ["error": "Registration is closed"])
        }
    }
}

final class LargeGraphTests: XCTestCase {
    func testAnItentialChainOfFiftyThousandTasksIsWalkedWithoutRecursion() {
        let chain = (0..<50_000).map { Transition(from: "t\($0)", to: "t\($0 + 1)", kind: .standard, state: .success) }
        XCTAssertNil(WorkflowGraph.standardCycle(chain))
        XCTAssertEqual(WorkflowGraph.standardCycle(chain + [Transition(from: "t50000", to: "t0", kind: .standard, state: .success)]), "t0")
        XCTAssertNil(
            WorkflowGraph.standardCycle(chain + [Transition(from: "t50000", to: "t0", kind: .standard, state: .loop)]),
            "a loop transition is no cycle")
        XCTAssertTrue(WorkflowGraph.reaches(chain, from: "t0", to: "t50000"))
        XCTAssertFalse(WorkflowGraph.reaches(chain, from: "t7", to: "t3"))
    }

    func testADiagramHasAtMostAThousandSteps() {
        let steps: [JSON] = (0...1000).map { ["id": .string("s\($0)"), "action": ["actionType": "Manual"], "paths": []] }
        XCTAssertThrowsError(try Diagram(["diagramName": "big", "steps": .array(steps)]))
        XCTAssertNoThrow(try Diagram(["diagramName": "fits", "steps": .array(Array(steps.prefix(1000)))]))
    }
}

final class StoredJSONTests: XCTestCase {
    func testJSONFromTheDatabaseIsDecodedWithErrorsNotDefaults() throws {
        let row = Row(values: [#"{"a": 1}"#, "{not json", nil])
        XCTAssertEqual(try row.json(0), ["a": 1])
        XCTAssertThrowsError(try row.json(1)) { XCTAssertTrue($0 is StoredJSONError) }
        XCTAssertThrowsError(try row.json(2), "NULL where a document must be")
        XCTAssertNil(try row.optionalJSON(2))
        XCTAssertThrowsError(try row.optionalJSON(1))
    }
}
