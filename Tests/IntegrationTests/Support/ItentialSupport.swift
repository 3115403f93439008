import Foundation
import JSON
import XCTest

enum ItentialSupport {
    /// Asserts an Itential error: the status, and a `{"message", "data"}` body whose message
    /// starts with `prefix` when given.
    static func assertMessage(
        _ response: HTTPResponse, _ status: Int, _ prefix: String? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        let message = response.json?["message"]?.stringValue
        XCTAssertNotNil(message, response.text, file: file, line: line)
        if let prefix { XCTAssertTrue(message?.hasPrefix(prefix) ?? false, "\(message ?? "")", file: file, line: line) }
    }
}

/// Workflows and jobs for Itential tests: unique workflow names, starting, and waiting for a
/// job's status while the runners work in the background.
struct ItentialFixture {
    let client: HTTPClient
    let admin: String

    init(inProcess: Bool = false) throws {
        client = try inProcess ? TestStack.inProcessClient() : TestStack.client()
        admin = try TestStack.adminToken()
    }

    static let success: JSON = ["type": "standard", "state": "success"]
    static func edge(_ state: String) -> JSON { ["type": "standard", "state": .string(state)] }

    static func task(
        _ name: String, _ incoming: JSON, type: String = "operation", app: String = "WorkFlowEngine",
        outgoing: JSON = [:]
    ) -> JSON {
        [
            "name": .string(name), "summary": .string(name), "description": .string(name), "location": "Application",
            "app": .string(app), "type": .string(type), "actor": "Pronghorn", "groups": [],
            "variables": ["incoming": incoming, "outgoing": outgoing, "error": "", "decorators": []],
        ]
    }

    /// A manual ViewData task; `btn_failure` empty offers only `success`.
    static func viewData(_ incoming: JSON = ["header": "h", "body": "b", "btn_success": "ok", "btn_failure": ""]) -> JSON {
        task("ViewData", incoming, type: "manual").setting("view", to: "/workflow_engine/task/ViewData")
    }

    static func stub(_ state: String = "success") -> JSON {
        task("stub", ["type": .string(state), "response": .string(state)], type: "automatic")
    }

    /// Creates a workflow with a unique name from tasks (start and end added) and transitions.
    func workflow(_ tasks: [(String, JSON)], _ transitions: [(String, JSON)], inputSchema: JSON? = nil) throws -> String {
        let name = "it-job-\(UUID().uuidString.prefix(8))"
        var document: [(String, JSON)] = [
            ("name", .string(name)), ("type", "automation"),
            (
                "tasks",
                .object(
                    [("workflow_start", ["name": "workflow_start", "groups": []])] + tasks
                        + [("workflow_end", ["name": "workflow_end", "groups": []])])
            ),
            ("transitions", .object(transitions + [("workflow_end", [:])])),
        ]
        if let inputSchema { document.append(("inputSchema", inputSchema)) }
        let response = try client.postJSON("/automation-studio/automations", ["automation": .object(document)], token: admin)
        guard response.status == 200 else { throw ClientError("creating workflow: \(response.status) \(response.text)") }
        return name
    }

    func start(_ workflow: String, _ options: JSON = [:]) throws -> JSON {
        let response = try client.postJSON(
            "/operations-manager/jobs/start", ["workflow": .string(workflow), "options": options], token: admin)
        guard response.status == 200, let job = response.json?["data"] else {
            throw ClientError("starting: \(response.status) \(response.text)")
        }
        return job
    }

    /// The job once its status is one of `statuses` (the runner works in the background).
    func job(_ id: String, until statuses: Set<String>, file: StaticString = #filePath, line: UInt = #line) throws -> JSON {
        let deadline = Date().addingTimeInterval(15)
        while true {
            let job = try XCTUnwrap(client.get("/operations-manager/jobs/\(id)", token: admin).json?["data"])
            if let status = job["status"]?.stringValue, statuses.contains(status) { return job }
            if Date() > deadline {
                XCTFail("job \(id) stayed \(job["status"] ?? .null)", file: file, line: line)
                return job
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

}

/// Itential tests share a fixture, the client and the admin's token. A class whose tests are
/// about surface rules runs them in process (`inProcess`), the others through nginx.
class ItentialTestCase: XCTestCase {
    var client: HTTPClient!
    var admin = ""
    var it: ItentialFixture!

    class var inProcess: Bool { false }

    override func setUpWithError() throws {
        it = try ItentialFixture(inProcess: Self.inProcess)
        client = it.client
        admin = it.admin
    }
}
