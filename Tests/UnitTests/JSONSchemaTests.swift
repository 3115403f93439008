import Foundation
import JSON
import XCTest

@testable import JSONSchema

final class JSONSchemaTests: XCTestCase {
    func testSeedExampleManifestsAreValid() throws {
        let schema = JSONSchema(try Fixtures.scale("seed.manifest.schema.json"), trusted: true)
        for example in [
            "example-seed-complete.manifest.json", "example-seed-random-number.manifest.json",
            "example-seed-watermark.manifest.json", "example-scale-test-COMPLETE_MANIFEST.json",
            "example-scale-test-MINIMUM_MANIFEST.json",
        ] {
            XCTAssertEqual(schema.validate(try Fixtures.scale(example)), [], example)
        }
    }

    func testTheSeedDocumentsManifestsLackErrorNames() throws {
        let schema = JSONSchema(try Fixtures.scale("seed.manifest.schema.json"), trusted: true)
        let request = try Fixtures.scale("seeddoc-post-job-types.request.json")
        let violations = schema.validate(try XCTUnwrap(request["manifest"]))
        XCTAssertFalse(violations.isEmpty)
        XCTAssertTrue(violations.allSatisfy { $0.keyword == "required" && $0.message == "'name' is a required property" }, "\(violations)")
        XCTAssertTrue(violations.allSatisfy { $0.instancePath.hasPrefix("/job/errors/") }, "\(violations)")
    }

    func testManifestMistakesAreFoundWherePythonWouldSayThem() throws {
        let schema = JSONSchema(try Fixtures.scale("seed.manifest.schema.json"), trusted: true)
        let valid = try Fixtures.scale("example-seed-random-number.manifest.json")
        let job = try XCTUnwrap(valid["job"])
        let extra = valid.setting("surprise", to: true)
        XCTAssertEqual(schema.validate(extra).map(\.message), ["Additional properties are not allowed ('surprise' was unexpected)"])
        let badName = valid.setting("job", to: job.setting("name", to: "Not Valid!"))
        XCTAssertEqual(schema.validate(badName).map(\.keyword), ["pattern"])
        XCTAssertEqual(schema.validate(badName).first?.instancePath, "/job/name")
        let wrongType = valid.setting("job", to: job.setting("timeout", to: "soon"))
        XCTAssertEqual(schema.validate(wrongType).first?.message, "'soon' is not of type 'integer'")
    }

    func testJobConfigurationSchemaWithRefAndOneOf() throws {
        let schema = JSONSchema(try Fixtures.scale("scale-job-configuration-v6.schema.json"), trusted: true)
        let ok: JSON = [
            "output_workspaces": ["default": "workspace_1", "outputs": [:]], "priority": 100,
            "mounts": ["dted": ["type": "host", "host_path": "/path/to/dted"]], "settings": ["DB_HOST": "x"],
        ]
        XCTAssertEqual(schema.validate(ok), [])
        XCTAssertFalse(schema.isValid(ok.setting("priority", to: 0)), "minimum 1")
        XCTAssertFalse(schema.isValid(ok.setting("mounts", to: ["dted": ["type": "ftp"]])), "oneOf over mount types")
    }

    func testEachKeyword() throws {
        func violations(_ schema: String, _ instance: String) throws -> [String] {
            JSONSchema(try JSON.parse(schema)).validate(try JSON.parse(instance)).map(\.keyword)
        }
        XCTAssertEqual(try violations(#"{"type": ["string", "null"]}"#, "null"), [])
        XCTAssertEqual(try violations(#"{"type": "integer"}"#, "1.0"), ["type"])
        XCTAssertEqual(try violations(#"{"type": "number"}"#, "1"), [])
        XCTAssertEqual(try violations(#"{"enum": [1, "a", {"b": [true]}]}"#, #"{"b": [true]}"#), [])
        XCTAssertEqual(try violations(#"{"enum": [1, "a"]}"#, "2"), ["enum"])
        XCTAssertEqual(try violations(#"{"minimum": 3, "exclusiveMinimum": true}"#, "3"), ["minimum"])
        XCTAssertEqual(try violations(#"{"maximum": 3}"#, "3"), [])
        XCTAssertEqual(try violations(#"{"multipleOf": 0.5}"#, "2.5"), [])
        XCTAssertEqual(try violations(#"{"multipleOf": 2}"#, "3"), ["multipleOf"])
        XCTAssertEqual(try violations(#"{"minLength": 2, "maxLength": 3}"#, #""é""#), ["minLength"])
        XCTAssertEqual(try violations(#"{"pattern": "^[a-z]+$"}"#, #""abc""#), [])
        XCTAssertEqual(try violations(#"{"pattern": "b"}"#, #""abc""#), [], "patterns are not anchored")
        XCTAssertEqual(try violations(#"{"items": {"type": "integer"}, "minItems": 1, "uniqueItems": true}"#, "[1, 1]"), ["uniqueItems"])
        XCTAssertEqual(try violations(#"{"items": [{"type": "string"}], "additionalItems": false}"#, #"["a", 1]"#), ["additionalItems"])
        XCTAssertEqual(try violations(#"{"maxItems": 1}"#, "[1, 2]"), ["maxItems"])
        XCTAssertEqual(
            try violations(
                #"{"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": false}"#,
                #"{"x-a": "ok", "x-b": 1}"#), ["type"])
        XCTAssertEqual(try violations(#"{"additionalProperties": {"type": "integer"}}"#, #"{"a": 1, "b": "2"}"#), ["type"])
        XCTAssertEqual(
            try violations(#"{"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}"#, #"{"a": 1, "c": 2}"#),
            ["dependencies", "required"])
        XCTAssertEqual(try violations(#"{"minProperties": 2}"#, #"{"a": 1}"#), ["minProperties"])
        XCTAssertEqual(try violations(#"{"allOf": [{"type": "integer"}, {"minimum": 5}]}"#, "3"), ["minimum"])
        XCTAssertEqual(try violations(#"{"anyOf": [{"type": "string"}, {"minimum": 5}]}"#, "3"), ["anyOf"])
        XCTAssertEqual(try violations(#"{"oneOf": [{"type": "integer"}, {"minimum": 2}]}"#, "3"), ["oneOf"])
        XCTAssertEqual(try violations(#"{"not": {"type": "null"}}"#, "null"), ["not"])
        XCTAssertEqual(
            try violations(
                ##"{"definitions": {"n": {"type": "integer"}}, "properties": {"a": {"$ref": "#/definitions/n"}}}"##,
                #"{"a": "x"}"#), ["type"])
        XCTAssertEqual(
            try violations(##"{"properties": {"next": {"$ref": "#"}}, "required": ["v"]}"##, ##"{"v": 1, "next": {}}"##),
            ["required"], "recursive references")
        XCTAssertEqual(try violations(##"{"$ref": "#/definitions/missing"}"##, "1"), ["$ref"])
        XCTAssertEqual(try violations(#"{"properties": {"a~b/c": {"type": "string"}}}"#, #"{"a~b/c": 1}"#), ["type"])
        XCTAssertEqual(
            JSONSchema(try JSON.parse(#"{"properties": {"a~b/c": {"type": "string"}}}"#))
                .validate(try JSON.parse(#"{"a~b/c": 1}"#)).first?.instancePath, "/a~0b~1c")
    }
}

final class SafePatternTests: XCTestCase {
    func testPatternsThatBacktrackExponentiallyAreRefused() {
        for risky in ["(a+)+$", "(a*)*b", "(a|aa)+", "((ab)*)+", "(x+x+)+y", "(\\w+\\s?)*$", "(a)\\1", String(repeating: "a", count: 1001)]
        {
            XCTAssertNil(SafePattern.compile(risky), risky)
        }
        for fine in ["^a+$", "(ab)+", "^[a-z]+(-[a-z]+)?$", "(a|b)", "[(+*)]+", "\\d{3}-\\d{4}", "^(foo|bar)\\.baz$", "a\\+b*"] {
            XCTAssertNotNil(SafePattern.compile(fine), fine)
        }
    }

    func testACostlyPatternInASchemaIsAViolationNotAHang() {
        let started = Date()
        let violations = JSONSchema(["type": "string", "pattern": "(a+)+$"]).validate(.string(String(repeating: "a", count: 40) + "!"))
        XCTAssertEqual(violations.map(\.keyword), ["pattern"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 1)
    }
}
