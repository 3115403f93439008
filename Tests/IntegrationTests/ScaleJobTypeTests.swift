import Foundation
import JSON
import Postgres
import XCTest

/// The v6 job type family, in process.
final class ScaleJobTypeTests: XCTestCase {
    var client: HTTPClient!
    var admin = ""

    override func setUpWithError() throws {
        client = try TestStack.inProcessClient()
        admin = try TestStack.adminToken()
    }

    /// The random-number example manifest under a unique name.
    func manifest(_ name: String, version: String = "1.0.0", tags: [String] = []) throws -> JSON {
        let base = try ScaleSupport.data("example-seed-random-number.manifest.json")
        let job = try XCTUnwrap(base["job"]).setting("name", to: .string(name)).setting("jobVersion", to: .string(version))
            .setting("tags", to: .array(tags.map(JSON.string)))
        return base.setting("job", to: job)
    }

    func uniqueName(_ prefix: String = "jt") -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

    func post(_ body: JSON) throws -> HTTPResponse { try client.postJSON("/v6/job-types/", body, token: admin) }

    func patch(_ path: String, _ body: JSON) throws -> HTTPResponse {
        try client.request(
            "PATCH", path, headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")],
            body: Array(body.serialized.utf8))
    }

    func get(_ path: String) throws -> JSON { try XCTUnwrap(try client.get(path, token: admin).json) }

    func detail(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        ScaleSupport.assertDetail(response, status, file: file, line: line)
    }

    func testTheSeedDocumentsRequestsWork() throws {
        for workspace in ["workspace_1", "workspace_2"] {
            _ = try client.postJSON("/v6/workspaces/", ["name": .string(workspace)], token: admin)
        }
        let existed = try client.get("/v6/job-types/test/1.0.0/", token: admin).status == 200
        let created = try post(try ScaleSupport.data("seeddoc-post-job-types.request.json"))
        XCTAssertEqual(created.status, existed ? 200 : 201, created.text)
        let details = try get("/v6/job-types/test/1.0.0/")
        XCTAssertEqual(details["configuration"]?["settings"], ["DB_HOST": "som.host.name"], "the secret DB_PASS is never returned")
        XCTAssertEqual(details["manifest"]?["job"]?["errors"]?.arrayValue?.compactMap { $0["name"]?.stringValue }, ["error-1", "error-2"])
        let edit = try patch("/v6/job-types/test/1.0.0/", try ScaleSupport.data("seeddoc-patch-job-type.request.json"))
        XCTAssertEqual(edit.json, ["is_valid": true, "errors": [], "warnings": []], edit.text)
    }

    func testCreateDetailsRevisionsAndSecrets() throws {
        let name = uniqueName()
        var body: JSON = ["docker_image": "img:1", "manifest": try manifest(name), "icon_code": "f013", "max_scheduled": "2"]
        let created = try post(body)
        XCTAssertEqual(created.status, 201, created.text)
        XCTAssertEqual(created.header("location"), "\(try XCTUnwrap(TestStack.baseURL))/v6/job-types/\(name)/1.0.0/")
        XCTAssertEqual(
            created.json?.objectValue?.map(\.0),
            [
                "id", "name", "version", "title", "description", "is_active", "is_system", "is_paused", "is_published", "icon_code",
                "unmet_resources", "max_scheduled", "max_tries", "revision_num", "docker_image", "created", "deprecated", "paused",
                "last_modified", "manifest", "configuration", "recipe_types",
            ])
        XCTAssertEqual(created.json?["max_scheduled"], 2)
        XCTAssertEqual(
            created.json?["configuration"], ["mounts": [:], "output_workspaces": ["outputs": [:]], "priority": 100, "settings": [:]])

        body = body.setting("docker_image", to: "img:2")
        let revised = try post(body)
        XCTAssertEqual(revised.status, 200)
        XCTAssertEqual(revised.json, ["is_valid": true, "errors": [], "warnings": []])
        XCTAssertEqual(try patch("/v6/job-types/\(name)/1.0.0/", ["manifest": try manifest(name)]).status, 200)
        XCTAssertEqual(try patch("/v6/job-types/\(name)/1.0.0", ["is_published": true]).status, 200, "flags make no revision")

        let details = try get("/v6/job-types/\(name)/1.0.0/")
        XCTAssertEqual(details["revision_num"], 3)
        XCTAssertEqual(details["docker_image"], "img:2")
        XCTAssertEqual(details["is_published"], true)
        let revisions = try get("/v6/job-types/\(name)/1.0.0/revisions/")
        XCTAssertEqual(revisions["results"]?.arrayValue?.compactMap { $0["revision_num"]?.intValue }, [3, 2, 1])
        XCTAssertEqual(revisions["results"]?.arrayValue?.last?["docker_image"], "img:1")
        XCTAssertEqual(revisions["results"]?.arrayValue?.first?["job_type"]?["name"], .string(name))
        let first = try get("/v6/job-types/\(name)/1.0.0/revisions/1/")
        XCTAssertEqual(first["manifest"]?["job"]?["name"], .string(name))
        detail(try client.get("/v6/job-types/\(name)/1.0.0/revisions/9/", token: admin), 404)
        detail(try client.get("/v6/job-types/\(name)/1.0.0/revisions/x/", token: admin), 404)
        detail(try client.get("/v6/job-types/\(name)/2.0.0/", token: admin), 404)
        detail(try client.get("/v6/job-types/\(name)/2.0.0/revisions/", token: admin), 404)
        XCTAssertEqual(try get("/v6/job-types/no-such-name/")["count"], 0)
    }

    func testSecretsAreStoredApartAndNeverReturned() throws {
        let name = uniqueName()
        let base = try manifest(name)
        let job = try XCTUnwrap(base["job"]).setting(
            "interface", to: ["settings": [["name": "HOST"], ["name": "PASSWORD", "secret": true]]])
        let body: JSON = [
            "docker_image": "img", "manifest": base.setting("job", to: job),
            "configuration": ["settings": ["HOST": "db", "PASSWORD": .string("hunter2-\(name)")]],
        ]
        XCTAssertEqual(try post(body).status, 201)
        for path in [
            "/v6/job-types/\(name)/1.0.0/", "/v6/job-types/?keyword=\(name)", "/v6/job-types/\(name)/1.0.0/revisions/",
            "/v6/job-type-names/?keyword=\(name)",
        ] {
            XCTAssertFalse(try client.get(path, token: admin).text.contains("hunter2"), path)
        }
        let stored = try TestStack.database().execute(
            Statement(
                "t_secret",
                """
                SELECT s.value FROM job_type_secrets s JOIN job_types j ON j.id = s.job_type_id WHERE j.name = $1 AND s.setting_name = 'PASSWORD'
                """), [name]
        ).first?[0]
        XCTAssertEqual(stored, "hunter2-\(name)")
    }

    func testSemVerOrderingNamesAndKeywords() throws {
        let name = uniqueName("sv")
        for version in ["1.2.0", "1.10.0", "1.0.0-rc.1", "1.0.0"] {
            XCTAssertEqual(
                try post(["docker_image": "i", "manifest": try manifest(name, version: version, tags: ["alpha-\(name)", "alpha-2"])])
                    .status, 201)
        }
        XCTAssertEqual(
            try get("/v6/job-types/\(name)/")["results"]?.arrayValue?.compactMap { $0["version"]?.stringValue },
            ["1.10.0", "1.2.0", "1.0.0", "1.0.0-rc.1"])
        XCTAssertEqual(
            try get("/v6/job-types/?keyword=\(name)&order=version")["results"]?.arrayValue?.compactMap { $0["version"]?.stringValue },
            ["1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0"])
        let byTag = try get("/v6/job-types/?keyword=ALPHA-\(name)")
        XCTAssertEqual(byTag["count"], 4, "two matching tags do not duplicate a row")
        let names = try get("/v6/job-type-names/?keyword=\(name)")
        XCTAssertEqual(names["count"], 1)
        let row = try XCTUnwrap(names["results"]?.arrayValue?.first)
        XCTAssertEqual(row["latest_version"], "1.10.0")
        XCTAssertEqual(row["versions"], ["1.0.0-rc.1", "1.0.0", "1.2.0", "1.10.0"])
        XCTAssertNil(row["id"])

        let oldest = try XCTUnwrap(try get("/v6/job-types/\(name)/1.0.0/")["id"]?.intValue)
        XCTAssertEqual(
            try get("/v6/job-type-names/?id=\(oldest)")["results"]?.arrayValue?.first?["latest_version"], "1.10.0",
            "the row shows the latest version whichever version matched")
        XCTAssertEqual(try get("/v6/job-types/?id=\(oldest)")["count"], 1)
        XCTAssertEqual(try patch("/v6/job-types/\(name)/1.2.0/", ["is_active": false]).status, 200)
        XCTAssertEqual(
            try get("/v6/job-types/?keyword=\(name)&is_active=false")["results"]?.arrayValue?.compactMap { $0["version"]?.stringValue },
            ["1.2.0"])
        let deprecated = try get("/v6/job-types/\(name)/1.2.0/")
        XCTAssertNotEqual(deprecated["deprecated"], .null)
        XCTAssertEqual(
            try get("/v6/job-types/?keyword=\(name)&order=-is_active&order=-version")["results"]?.arrayValue?.compactMap {
                $0["version"]?.stringValue
            },
            ["1.10.0", "1.0.0", "1.0.0-rc.1", "1.2.0"])
        detail(try client.get("/v6/job-types/?order=colour", token: admin), 400)
        detail(try client.get("/v6/job-types/?is_system=perhaps", token: admin), 400)
        detail(try client.get("/v6/job-types/?id=x", token: admin), 400)
    }

    /// Edits answer the warnings of the configuration they checked, in Scale's order (decisions
    /// table: warnings on PATCH/POST-edit), through nginx.
    func testEditsAnswerTheirConfigurationWarnings() throws {
        let web = try TestStack.client()
        let name = uniqueName("warn")
        let interface: JSON = [
            "mounts": [["name": "M1", "path": "/m", "mode": "ro"]], "settings": [["name": "S1"], ["name": "S2", "secret": true]],
        ]
        let manifest = try manifest(name).setting("job", to: try XCTUnwrap(try manifest(name)["job"]).setting("interface", to: interface))
        let body: JSON = ["docker_image": "i", "manifest": manifest]
        XCTAssertEqual(try web.postJSON("/v6/job-types/", body, token: admin).status, 201)
        func names(_ response: HTTPResponse) -> [String] {
            XCTAssertEqual(response.status, 200, response.text)
            XCTAssertEqual(response.json?["is_valid"], true, response.text)
            return response.json?["warnings"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? ["no warnings list"]
        }
        let configuration: JSON = ["mounts": ["OTHER": ["type": "host", "host_path": "/x"]], "settings": ["S1": "v"]]
        XCTAssertEqual(
            names(try web.postJSON("/v6/job-types/", body.setting("configuration", to: configuration), token: admin)),
            ["UNKNOWN_MOUNT", "MISSING_MOUNT", "MISSING_SETTING"], "POST of an existing name and version is an edit")
        let path = "/v6/job-types/\(name)/1.0.0/"
        let headers = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
        func patch(_ body: JSON) throws -> HTTPResponse {
            try web.request("PATCH", path, headers: headers, body: Array(body.serialized.utf8))
        }
        let warned = try patch(["configuration": [:]])
        XCTAssertEqual(names(warned), ["MISSING_MOUNT", "MISSING_SETTING", "MISSING_SETTING"])
        XCTAssertEqual(
            warned.json?["warnings"]?.arrayValue?.last,
            ["name": "MISSING_SETTING", "description": "Missing configuration for setting 'S2'"])
        XCTAssertEqual(names(try patch(["is_paused": true])), [], "an edit of flags checks no configuration")
        let complete: JSON = ["mounts": ["M1": ["type": "host", "host_path": "/m"]], "settings": ["S1": "a", "S2": "secret"]]
        XCTAssertEqual(names(try patch(["configuration": complete])), [])
    }

    /// `order` on the names list, as on the job type list (decision D1), through nginx.
    func testTheNamesListTakesOrder() throws {
        let web = try TestStack.client()
        let prefix = uniqueName("ord")
        for suffix in ["a", "B", "c"] {
            XCTAssertEqual(
                try web.postJSON("/v6/job-types/", ["docker_image": "i", "manifest": try manifest("\(prefix)-\(suffix)")], token: admin)
                    .status, 201)
        }
        func names(_ query: String) throws -> [String] {
            let response = try web.get("/v6/job-type-names/?keyword=\(prefix)\(query)", token: admin)
            XCTAssertEqual(response.status, 200, response.text)
            return response.json?["results"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        }
        XCTAssertEqual(try names(""), ["\(prefix)-a", "\(prefix)-B", "\(prefix)-c"], "names compare case-insensitively")
        XCTAssertEqual(try names("&order=-name"), ["\(prefix)-c", "\(prefix)-B", "\(prefix)-a"])
        XCTAssertEqual(try names("&order=-id"), ["\(prefix)-c", "\(prefix)-B", "\(prefix)-a"])
        detail(try web.get("/v6/job-type-names/?order=colour", token: admin), 400)
    }

    /// The fixed path `validation/` is POST only; a GET is not the versions of a job type named so.
    func testReadingTheValidationRouteIsMethodNotAllowed() throws {
        let web = try TestStack.client()
        for path in ["/v6/job-types/validation/", "/v6/job-types/validation"] {
            let response = try web.get(path, token: admin)
            detail(response, 405)
            XCTAssertEqual(response.header("allow"), "POST", path)
        }
        detail(try web.get("/v6/jobs/claim/", token: admin), 405)
        XCTAssertEqual(try web.get("/v6/job-types/status/", token: admin).status, 200, "the fixed GET routes still answer")
    }

    func testBadRequestsAreRefusedWithDetail() throws {
        let name = uniqueName()
        let good: JSON = ["docker_image": "i", "manifest": try manifest(name)]
        detail(try post(["manifest": try manifest(name)]), 400)
        detail(try post(["docker_image": "i"]), 400)
        detail(try post(["docker_image": "i", "manifest": "text"]), 400)
        detail(try post(["docker_image": "", "manifest": try manifest(name)]), 400)
        detail(try post(good.setting("manifest", to: try manifest(name).setting("seedVersion", to: "2"))), 400)
        detail(try post(good.setting("configuration", to: ["priority": 0])), 400)
        detail(try post(good.setting("configuration", to: ["mounts": ["m": ["host_path": "/x"]]])), 400)
        detail(try post(good.setting("configuration", to: "text")), 400)
        detail(try post(good.setting("colour", to: "red")), 400)
        detail(try post(good.setting("is_active", to: "yes")), 400)
        detail(try post(good.setting("max_scheduled", to: "BAD")), 400)
        detail(try post(good.setting("max_scheduled", to: 0)), 400)
        for reserved in ["validation", "status", "pending", "running", "system-failures"] {
            detail(try post(["docker_image": "i", "manifest": try manifest(reserved)]), 400)
        }
        detail(
            try client.request(
                "POST", "/v6/job-types/", headers: [("Authorization", "Bearer \(admin)"), ("Content-Type", "text/plain")],
                body: Array("x".utf8)), 415)
        detail(try post(["a"]), 400)
        XCTAssertEqual(try get("/v6/job-types/?keyword=\(name)")["count"], 0, "nothing was written")

        XCTAssertEqual(try post(good).status, 201)
        let path = "/v6/job-types/\(name)/1.0.0/"
        detail(try patch(path, ["manifest": try manifest("other-name")]), 400)
        detail(try patch(path, ["manifest": try manifest(name, version: "2.0.0")]), 400)
        detail(try patch(path, ["unknown": 1]), 400)
        detail(try patch(path, ["configuration": ["output_workspaces": ["default": "no-such-workspace"]]]), 400)
        detail(try patch("/v6/job-types/\(name)/9.9.9/", ["is_paused": true]), 404)
        // A bad manifest is refused before the lookup, as Scale does.
        detail(try patch("/v6/job-types/\(name)/9.9.9/", ["manifest": try manifest(name).setting("seedVersion", to: "2")]), 400)
        XCTAssertEqual(try get(path)["revision_num"], 1)
    }

    func testSystemJobTypesOnlyPause() throws {
        let name = uniqueName("sys")
        XCTAssertEqual(try post(["docker_image": "i", "manifest": try manifest(name)]).status, 201)
        try TestStack.database().execute(Statement("t_make_system", "UPDATE job_types SET is_system = true WHERE name = $1"), [name])
        let path = "/v6/job-types/\(name)/1.0.0/"
        detail(try patch(path, ["icon_code": "f00d"]), 400)
        detail(try patch(path, ["manifest": try manifest(name)]), 400)
        XCTAssertEqual(try patch(path, ["is_paused": true]).status, 200)
        let details = try get(path)
        XCTAssertEqual(details["is_paused"], true)
        XCTAssertNotEqual(details["paused"], .null)
        XCTAssertEqual(details["is_system"], true)
    }

    func testConcurrentCreatesOfOnePairMakeOneRowAndConsecutiveRevisions() throws {
        let name = uniqueName("race")
        let body: JSON = ["docker_image": "i", "manifest": try manifest(name)]
        let token = admin
        let statuses = try TestStack.concurrently(8) { _ in
            try TestStack.client().postJSON("/v6/job-types/", body, token: token).status
        }.map { try $0.get() }
        XCTAssertEqual(statuses.filter { $0 == 201 }.count, 1, "\(statuses)")
        XCTAssertEqual(statuses.filter { $0 == 200 }.count, 7, "\(statuses)")
        XCTAssertEqual(try get("/v6/job-types/\(name)/")["count"], 1)
        XCTAssertEqual(
            try get("/v6/job-types/\(name)/1.0.0/revisions/")["results"]?.arrayValue?.compactMap { $0["revision_num"]?.intValue },
            [8, 7, 6, 5, 4, 3, 2, 1])
    }
}
