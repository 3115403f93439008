import Foundation
import JSON
import XCTest

/// The Scale surface so far: its conventions, workspaces, and job type validation.
final class ScaleTests: XCTestCase {
    func detail(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        ScaleSupport.assertDetail(response, status, file: file, line: line)
    }

    /// Creates a workspace, or, when an earlier run made it, puts it in the wanted state.
    @discardableResult
    func workspace(_ name: String, active: Bool = true, token: String) throws -> Int {
        let client = try TestStack.client()
        let created = try client.postJSON("/v6/workspaces/", ["name": .string(name), "is_active": .bool(active)], token: token)
        if created.status == 201 { return try XCTUnwrap(created.json?["id"]?.intValue) }
        let all = try client.get("/v6/workspaces/?page_size=1000", token: token).json?["results"]?.arrayValue ?? []
        let id = try XCTUnwrap(all.first { $0["name"]?.stringValue == name }?["id"]?.intValue)
        let patched = try client.request(
            "PATCH", "/v6/workspaces/\(id)/",
            headers: [
                ("Authorization", "Bearer \(token)"),
                ("Content-Type", "application/json"),
            ],
            body: Array(JSON.object([("is_active", .bool(active))]).serialized.utf8))
        XCTAssertEqual(patched.status, 200, patched.text)
        return id
    }

    func testAuthenticationAndRoles() throws {
        let client = try TestStack.client()
        detail(try client.get("/v6/workspaces/"), 401)
        detail(try client.get("/v6/workspaces/", token: "not-a-token"), 401)
        let reader = try TestStack.makeUser(roles: ["apiread"])
        XCTAssertEqual(try client.get("/v6/workspaces/", token: reader.token).status, 200)
        detail(try client.postJSON("/v6/workspaces/", ["name": "nope"], token: reader.token), 403)
        let validation = try client.postJSON(
            "/v6/job-types/validation/", ["manifest": try ScaleSupport.data("example-seed-random-number.manifest.json")],
            token: reader.token)
        XCTAssertEqual(validation.status, 200, "any active user may validate")
    }

    func testWorkspacesLifecycle() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        let name = "ws-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try client.postJSON(
            "/v6/workspaces",
            [
                "name": .string(name), "title": "Raw", "base_url": "http://files/",
                "json_config": ["broker": ["type": "host", "host_path": "/data"]],
            ], token: admin)
        XCTAssertEqual(created.status, 201, created.text)
        let id = try XCTUnwrap(created.json?["id"]?.intValue)
        XCTAssertEqual(created.header("location"), "\(try XCTUnwrap(TestStack.baseURL))/v6/workspaces/\(id)/")
        XCTAssertEqual(
            created.json?.objectValue?.map(\.0),
            ["id", "name", "title", "description", "base_url", "is_active", "created", "deprecated", "last_modified", "json_config"])
        XCTAssertEqual(created.json?["deprecated"], .null)

        detail(try client.postJSON("/v6/workspaces/", ["name": .string(name)], token: admin), 400)
        detail(try client.postJSON("/v6/workspaces/", ["name": "has space"], token: admin), 400)
        detail(try client.postJSON("/v6/workspaces/", ["name": "x", "colour": "red"], token: admin), 400)
        detail(try client.postJSON("/v6/workspaces/", ["title": "no name"], token: admin), 400)
        detail(try client.postJSON("/v6/workspaces/", ["name": "y", "is_active": "yes"], token: admin), 400)
        detail(try client.postJSON("/v6/workspaces/", ["a", "b"], token: admin), 400)
        detail(
            try client.request(
                "POST", "/v6/workspaces/", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
                body: Array("{".utf8)), 400)
        detail(
            try client.request(
                "POST", "/v6/workspaces/", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "text/plain")],
                body: Array("name=z".utf8)), 415)

        XCTAssertEqual(
            try client.get("/v6/workspaces/\(id)/", token: admin).json?["json_config"], ["broker": ["type": "host", "host_path": "/data"]])
        XCTAssertEqual(try client.get("/v6/workspaces/\(id)", token: admin).status, 200, "no trailing slash is served too")
        detail(try client.get("/v6/workspaces/999999999/", token: admin), 404)
        detail(try client.get("/v6/workspaces/abc/", token: admin), 404)

        func patch(_ body: JSON) throws -> HTTPResponse {
            try client.request(
                "PATCH", "/v6/workspaces/\(id)/", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
                body: Array(body.serialized.utf8))
        }
        let deactivated = try patch(["is_active": false, "title": .null])
        XCTAssertEqual(deactivated.status, 200, deactivated.text)
        XCTAssertEqual(deactivated.json?["is_active"], false)
        XCTAssertEqual(deactivated.json?["title"], .null)
        XCTAssertNotEqual(deactivated.json?["deprecated"], .null)
        XCTAssertEqual(deactivated.json?["base_url"], "http://files/", "fields not given are kept")
        let reactivated = try patch(["is_active": true])
        XCTAssertEqual(reactivated.json?["deprecated"], .null)
        detail(try patch(["bogus": 1]), 400)
        detail(
            try client.request(
                "PATCH", "/v6/workspaces/999999999/",
                headers: [
                    ("Authorization", "Bearer \(admin)"),
                    ("Content-Type", "application/json"),
                ], body: Array("{}".utf8)), 404)
        let delete = try client.request("DELETE", "/v6/workspaces/\(id)/", headers: [("Authorization", "Bearer \(admin)")])
        detail(delete, 405)
        XCTAssertEqual(delete.header("allow"), "GET, PATCH, HEAD")
    }

    func testPagination() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        for n in 0..<3 { try workspace("page-\(n)-\(UUID().uuidString.prefix(6).lowercased())", token: admin) }
        let base = try XCTUnwrap(TestStack.baseURL)
        let all = try client.get("/v6/workspaces/?page_size=1000", token: admin)
        let count = try XCTUnwrap(all.json?["count"]?.intValue)
        XCTAssertGreaterThanOrEqual(count, 3)
        XCTAssertEqual(all.json?.objectValue?.map(\.0), ["count", "next", "previous", "results"])
        XCTAssertEqual(all.json?["results"]?.arrayValue?.count, min(count, 1000), "other tests' workspaces may fill more pages")

        let first = try client.get("/v6/workspaces/?page_size=1&keep=a%20b", token: admin)
        XCTAssertEqual(first.json?["next"], .string("\(base)/v6/workspaces/?page_size=1&keep=a%20b&page=2"))
        XCTAssertEqual(first.json?["previous"], .null)
        let second = try client.get("/v6/workspaces/?page=2&page_size=1", token: admin)
        XCTAssertEqual(second.json?["previous"], .string("\(base)/v6/workspaces/?page_size=1"), "page 1 drops the parameter")
        let last = try client.get("/v6/workspaces/?page=last&page_size=1", token: admin)
        XCTAssertEqual(last.json?["next"], .null)
        XCTAssertEqual(last.json?["results"]?.arrayValue?.count, 1)
        for bad in ["0", "-1", "abc", String(count + 1)] {
            detail(try client.get("/v6/workspaces/?page_size=1&page=\(bad)", token: admin), 404)
        }
        XCTAssertEqual(try client.get("/v6/workspaces/?page_size=0", token: admin).json?["results"]?.arrayValue?.count, min(count, 100))
        XCTAssertEqual(try client.get("/v6/workspaces/?page_size=x", token: admin).json?["results"]?.arrayValue?.count, min(count, 100))
    }

    func testValidationOfTheSeedDocumentsRequest() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        try workspace("workspace_1", token: admin)
        try workspace("workspace_2", token: admin)
        let body = try ScaleSupport.data("seeddoc-post-validation.request.json")
        let response = try client.postJSON("/v6/job-types/validation/", body, token: admin)
        XCTAssertEqual(response.status, 200, response.text)
        XCTAssertEqual(response.json?["is_valid"], true)
        XCTAssertEqual(response.json?["errors"], [])
        XCTAssertEqual(
            response.json?["warnings"]?.arrayValue?.compactMap { $0["name"]?.stringValue },
            ["MISSING_ERROR_NAME", "MISSING_ERROR_NAME"])
        XCTAssertEqual(try client.postJSON("/v6/job-types/validation", body, token: admin).status, 200)
    }

    func testValidationErrorsAndWarnings() throws {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        let manifest = try ScaleSupport.data("example-seed-complete.manifest.json")
        func validate(_ body: JSON) throws -> JSON {
            try XCTUnwrap(try client.postJSON("/v6/job-types/validation/", body, token: admin).json)
        }
        func names(_ result: JSON, _ key: String) -> [String] { result[key]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [] }

        let missingWorkspace = try validate(["manifest": manifest])
        XCTAssertEqual(missingWorkspace["is_valid"], false)
        XCTAssertEqual(names(missingWorkspace, "errors"), ["MISSING_WORKSPACE"], "file outputs need a workspace")
        XCTAssertEqual(
            names(try validate(["manifest": manifest, "configuration": ["output_workspaces": ["default": "no-such-ws"]]]), "errors"),
            ["INVALID_WORKSPACE"])
        XCTAssertEqual(names(try validate(["manifest": manifest, "configuration": ["version": 6]]), "errors"), ["INVALID_VERSION"])
        XCTAssertEqual(
            names(try validate(["manifest": manifest, "configuration": ["priority": "high"]]), "errors"), ["INVALID_CONFIGURATION"])
        XCTAssertEqual(names(try validate(["manifest": manifest.setting("seedVersion", to: "9")]), "errors"), ["JSON_VALIDATION_ERROR"])

        let old = "old-\(UUID().uuidString.prefix(6).lowercased())"
        try workspace(old, active: false, token: admin)
        let warned = try validate([
            "manifest": manifest,
            "configuration": [
                "output_workspaces": ["default": .string(old)], "mounts": ["elsewhere": ["type": "volume"]],
                "settings": ["UNKNOWN": "x"],
            ],
        ])
        XCTAssertEqual(warned["is_valid"], true, warned.serialized)
        let warnings = names(warned, "warnings")
        XCTAssertEqual(warnings.first, "UNKNOWN_MOUNT")
        XCTAssertTrue(
            warnings.contains("MISSING_MOUNT") && warnings.contains("DEPRECATED_WORKSPACE") && warnings.contains("UNKNOWN_SETTING"),
            "\(warnings)")
        XCTAssertTrue(warnings.contains("MISSING_SETTING"))

        // Scale's checks after the schema, each through the endpoint.
        let job = try XCTUnwrap(try ScaleSupport.data("example-seed-random-number.manifest.json")["job"])
        func withJob(_ changed: JSON) -> JSON { ["manifest": ["seedVersion": "1.0.0", "job": changed]] }
        func interface(_ value: JSON) -> JSON { withJob(job.setting("interface", to: value)) }
        XCTAssertEqual(
            names(try validate(interface(["settings": [["name": "db-host"], ["name": "DB_HOST"]]])), "errors"), ["NAME_COLLISION_ERROR"])
        XCTAssertEqual(
            names(try validate(interface(["mounts": [["name": "m", "path": "/a"], ["name": "m", "path": "/b"]]])), "errors"),
            ["DUPLICATE_MOUNT_NAMES"])
        XCTAssertEqual(names(try validate(interface(["mounts": [["name": "m", "path": "relative"]]])), "errors"), ["INVALID_MOUNT_PATH"])
        let duplicateErrors = withJob(job.setting("errors", to: [["code": 1, "name": "e"], ["code": 2, "name": "e"]]))
        XCTAssertEqual(names(try validate(duplicateErrors), "errors"), ["DUPLICATE_ERROR_NAMES"])
        XCTAssertEqual(
            names(
                try validate(
                    interface(["mounts": [["name": "m", "path": "/m"]]]).setting(
                        "configuration",
                        to: [
                            "mounts": ["m": ["type": "host", "host_path": "relative"]]
                        ])), "errors"), ["HOST_ABSOLUTE_PATH"])
        let resources = try validate(
            withJob(job.setting("resources", to: ["scalar": [["name": "cpus", "value": 1], ["name": "unicorns", "value": 2]]])))
        XCTAssertEqual(names(resources, "warnings"), ["NONSTANDARD_RESOURCE"])

        detail(try client.postJSON("/v6/job-types/validation/", ["configuration": [:]], token: admin), 400)
        detail(try client.postJSON("/v6/job-types/validation/", ["manifest": "text"], token: admin), 400)
        detail(try client.postJSON("/v6/job-types/validation/", [1, 2], token: admin), 400)
    }
}
