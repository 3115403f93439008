import Foundation
import JSON
import XCTest

@testable import Scale
@testable import ScaleAPI

final class SemVerTests: XCTestCase {
    func testParsing() {
        for valid in ["0.0.1", "1.10.0", "1.0.0-rc.1", "1.0.0-0.3.7", "1.0.0-x-y.z", "1.0.0+build.5", "2.0.0-alpha+001"] {
            XCTAssertNotNil(SemVer(valid), valid)
        }
        for invalid in ["1.0", "01.0.0", "1.0.0-", "1.0.0-01", "1.0.0-a..b", "1.0.0+", "v1.0.0", "1.0.0-ä", ""] {
            XCTAssertNil(SemVer(invalid), invalid)
        }
    }

    /// The precedence chain of the SemVer 2.0 specification, §11, plus 1.2.0 < 1.10.0.
    func testPrecedenceAndItsSQLSortKey() throws {
        let ordered = [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0", "2.0.0",
        ]
        let versions = try ordered.map { try XCTUnwrap(SemVer($0)) }
        for (lower, higher) in zip(versions, versions.dropFirst()) {
            XCTAssertLessThan(lower, higher)
            XCTAssertTrue(
                Array(lower.sortKey.utf8).lexicographicallyPrecedes(Array(higher.sortKey.utf8)),
                "\(lower.sortKey) should sort below \(higher.sortKey)")
        }
        XCTAssertEqual(SemVer("1.0.0+a"), SemVer("1.0.0+b"), "build metadata is ignored")
        XCTAssertEqual(
            versions.shuffled().sorted().map {
                "\($0.major).\($0.minor).\($0.patch)" + ($0.prerelease.isEmpty ? "" : "-" + $0.prerelease.joined(separator: "."))
            },
            ordered)
    }
}

final class SeedManifestTests: XCTestCase {
    func issue(_ manifest: JSON) -> String? {
        if case let .failure(issue) = SeedManifest.validate(manifest) { return issue.name }
        return nil
    }

    func testExamplesAndTheSeedDocumentsManifest() throws {
        for example in [
            "example-seed-complete.manifest.json", "example-seed-random-number.manifest.json",
            "example-seed-watermark.manifest.json", "example-scale-test-COMPLETE_MANIFEST.json",
            "example-scale-test-MINIMUM_MANIFEST.json",
        ] {
            XCTAssertNil(issue(try Fixtures.scale(example)), example)
        }
        let seedDoc = try XCTUnwrap(try Fixtures.scale("seeddoc-post-job-types.request.json")["manifest"])
        let accepted = try SeedManifest.validate(seedDoc).get()
        XCTAssertFalse(accepted.warnings.isEmpty)
        XCTAssertTrue(accepted.warnings.allSatisfy { $0.name == "MISSING_ERROR_NAME" })
        XCTAssertTrue(accepted.job["errors"]?.arrayValue?.allSatisfy { $0["name"]?.stringValue?.hasPrefix("error-") ?? false } ?? false)
    }

    func testScaleChecksAfterTheSchema() throws {
        let base = try Fixtures.scale("example-seed-random-number.manifest.json")
        let job = try XCTUnwrap(base["job"])
        func with(_ interface: JSON) -> JSON { base.setting("job", to: job.setting("interface", to: interface)) }
        XCTAssertEqual(issue(base.setting("seedVersion", to: "2.0.0")), "JSON_VALIDATION_ERROR")
        XCTAssertEqual(issue(with(["settings": [["name": "db-host"], ["name": "DB_HOST"]]])), "NAME_COLLISION_ERROR")
        XCTAssertEqual(issue(with(["settings": [["name": "OUTPUT_DIR"]]])), "NAME_COLLISION_ERROR")
        XCTAssertEqual(issue(with(["mounts": [["name": "m", "path": "/a"], ["name": "m", "path": "/b"]]])), "DUPLICATE_MOUNT_NAMES")
        XCTAssertEqual(issue(with(["mounts": [["name": "m", "path": "relative/path"]]])), "INVALID_MOUNT_PATH")
        XCTAssertEqual(
            issue(base.setting("job", to: job.setting("errors", to: [["code": 1, "name": "e"], ["code": 2, "name": "e"]]))),
            "DUPLICATE_ERROR_NAMES")
        XCTAssertEqual(
            issue(base.setting("job", to: job.setting("resources", to: ["scalar": [["name": "GPUs", "value": .number("1.1")]]]))),
            "JSON_VALIDATION_ERROR")
        guard case let .failure(failure) = SeedManifest.validate(base.setting("job", to: job.setting("name", to: "bad_name"))) else {
            return XCTFail("an underscore is not allowed in a job name")
        }
        XCTAssertTrue(failure.description.hasPrefix("Error validating against schema: 'bad_name' does not match"), failure.description)
    }

    func testDefaultsAreFilledIntoTheStoredManifest() throws {
        let base = try Fixtures.scale("example-seed-random-number.manifest.json")
        let job = try XCTUnwrap(base["job"])
        let manifest = base.setting(
            "job",
            to:
                job
                .setting(
                    "interface",
                    to: [
                        "mounts": [["name": "m", "path": "/m"]], "settings": [["name": "s"]],
                        "inputs": ["files": [["name": "f"]], "json": [["name": "j", "type": "string"]]],
                        "outputs": ["files": [["name": "o", "pattern": "*.txt"]]],
                    ]
                )
                .setting("errors", to: [["code": 3, "name": "oops"]]))
        let stored = try SeedManifest.validate(manifest).get()
        let interface = try XCTUnwrap(stored.job["interface"])
        XCTAssertEqual(interface["mounts"]?.arrayValue?.first?["mode"], "ro")
        XCTAssertEqual(interface["settings"]?.arrayValue?.first?["secret"], false)
        XCTAssertEqual(
            interface["inputs"]?["files"]?.arrayValue?.first,
            ["name": "f", "required": true, "mediaTypes": [], "multiple": false, "partial": false])
        XCTAssertEqual(interface["inputs"]?["json"]?.arrayValue?.first?["required"], true)
        XCTAssertEqual(interface["outputs"]?["files"]?.arrayValue?.first?["mediaType"], "application/octet-stream")
        XCTAssertEqual(stored.job["errors"]?.arrayValue?.first, ["code": 3, "name": "oops", "category": "job", "title": "oops"])
        XCTAssertEqual(stored.outputFileNames, ["o"])
    }
}

final class JobConfigurationTests: XCTestCase {
    let manifest = try! SeedManifest.validate(
        try! JSON.parse(
            """
            {"seedVersion": "1.0.0", "job": {"name": "t", "jobVersion": "1.0.0", "packageVersion": "1.0.0", "title": "T",
             "description": "d", "maintainer": {"name": "n", "email": "e"}, "timeout": 10,
             "resources": {"scalar": [{"name": "cpus", "value": 1}, {"name": "foo", "value": 2}]},
             "interface": {"mounts": [{"name": "M", "path": "/m"}], "settings": [{"name": "HOST"}, {"name": "PASS", "secret": true}],
                           "outputs": {"files": [{"name": "OUT", "pattern": "*"}]}}}}
            """)
    ).get()

    enum Outcome: Equatable {
        case warnings([String])
        case error(String)
    }

    func check(_ json: JSON?, workspaces: [String: JobConfiguration.WorkspaceState] = ["ws": .active, "old": .inactive]) -> Outcome {
        switch JobConfiguration.parse(json) {
        case let .failure(issue): return .error(issue.name)
        case let .success(configuration):
            switch configuration.validate(against: manifest, workspace: { workspaces[$0] }) {
            case let .failure(issue): return .error(issue.name)
            case let .success(warnings): return .warnings(warnings.map(\.name))
            }
        }
    }

    func testDefaultsAndTheSchema() throws {
        let defaults = try JobConfiguration.parse(nil).get()
        XCTAssertEqual(
            defaults.publicJSON(secretSettings: []),
            ["mounts": [:], "output_workspaces": ["outputs": [:]], "priority": 100, "settings": [:]])
        XCTAssertEqual(check(nil), .error("MISSING_WORKSPACE"), "a file output needs a workspace")
        XCTAssertEqual(check(["version": 6]), .error("INVALID_VERSION"))
        XCTAssertEqual(check(["version": "5"]), .error("INVALID_VERSION"))
        XCTAssertEqual(check(["settings": ["HOST": 5]]), .error("INVALID_CONFIGURATION"))
        XCTAssertEqual(check(["mounts": ["M": ["host_path": "/x"]]]), .error("INVALID_CONFIGURATION"))
        XCTAssertEqual(check(["priority": 0]), .error("INVALID_CONFIGURATION"))
        XCTAssertEqual(check(["extra": true]), .error("INVALID_CONFIGURATION"))
        XCTAssertEqual(check("nope"), .error("INVALID_CONFIGURATION"))
    }

    func testChecksAgainstTheManifestAndWorkspaces() {
        let complete: JSON = [
            "version": "6", "output_workspaces": ["default": "ws"], "mounts": ["M": ["type": "volume"]],
            "settings": ["HOST": "h", "PASS": "p"],
        ]
        XCTAssertEqual(check(complete), .warnings([]))
        XCTAssertEqual(
            check(complete.setting("mounts", to: ["M": ["type": "host", "host_path": "relative"]])), .error("HOST_ABSOLUTE_PATH"))
        XCTAssertEqual(check(complete.setting("output_workspaces", to: ["default": "nowhere"])), .error("INVALID_WORKSPACE"))
        XCTAssertEqual(check(complete.setting("output_workspaces", to: ["outputs": ["OUT": "ws"]])), .warnings([]))
        XCTAssertEqual(check(complete.setting("output_workspaces", to: ["outputs": ["OTHER": "ws"]])), .error("MISSING_WORKSPACE"))
        XCTAssertEqual(
            check(["output_workspaces": ["default": "old"], "mounts": ["X": ["type": "volume"]], "settings": ["Y": "1"]]),
            .warnings(["UNKNOWN_MOUNT", "MISSING_MOUNT", "DEPRECATED_WORKSPACE", "UNKNOWN_SETTING", "MISSING_SETTING", "MISSING_SETTING"]))
        XCTAssertEqual(manifest.nonstandardResourceWarnings.map(\.name), ["NONSTANDARD_RESOURCE"])
    }

    func testSecretsAreNeverShown() throws {
        let configuration = try JobConfiguration.parse([
            "output_workspaces": ["default": "ws"], "settings": ["HOST": "h", "PASS": "p"],
            "mounts": ["M": ["type": "volume", "driver_opts": ["a": "b"]]],
        ]).get()
        let shown = configuration.publicJSON(secretSettings: Set(manifest.settings.filter(\.secret).map(\.name)))
        XCTAssertEqual(shown["settings"], ["HOST": "h"])
        XCTAssertEqual(shown["output_workspaces"], ["outputs": [:], "default": "ws"])
        XCTAssertEqual(shown["mounts"], ["M": ["type": "volume", "driver_opts": ["a": "b"]]], "an empty driver is left out")
        XCTAssertFalse(shown.serialized.contains("\"p\""))
    }

    func testTheSeedDocumentsConfigurationWithItsWorkspaces() throws {
        let request = try Fixtures.scale("seeddoc-post-job-types.request.json")
        let manifest = try SeedManifest.validate(try XCTUnwrap(request["manifest"])).get()
        let configuration = try JobConfiguration.parse(request["configuration"]).get()
        let workspaces: [String: JobConfiguration.WorkspaceState] = ["workspace_1": .active, "workspace_2": .active]
        XCTAssertEqual(try configuration.validate(against: manifest, workspace: { workspaces[$0] }).get(), [])
        XCTAssertEqual(
            configuration.validate(against: manifest, workspace: { _ in nil }).map { _ in "" },
            .failure(
                ScaleIssue(
                    name: "INVALID_WORKSPACE", description: "No workspace named 'workspace_1'")))
    }
}
