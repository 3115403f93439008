import Foundation
import JSON
import XCTest

/// A fresh workflow item with helpers to build diagrams, templates and jobs in it and to send
/// job actions, all through nginx as the admin (who holds every privilege) unless told otherwise.
struct WorkflowManagerItem {
    let client: HTTPClient
    let admin: String
    let base: String

    static func make() throws -> WorkflowManagerItem {
        let client = try TestStack.client()
        let admin = try TestStack.adminToken()
        let itemId = "item-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try client.postJSON("/testorg/admin/createWorkflowItem", ["itemId": .string(itemId), "name": "tests"], token: admin)
        guard created.status == 200 else { throw ClientError("creating item: \(created.status) \(created.text)") }
        return WorkflowManagerItem(client: client, admin: admin, base: "/testorg/\(itemId)")
    }

    /// A step; `paths` are next step ids, or (next, expression) pairs.
    static func step(
        _ id: String, _ type: String = "Manual", to paths: [String] = [], conditional: [(String, String)] = [],
        options: [(String, JSON)] = [], args: JSON? = nil
    ) -> JSON {
        var action: [(String, JSON)] = [("actionType", .string(type))]
        if let args { action.append(("args", args)) }
        let pathList =
            paths.map { JSON.object([("nextStep", .string($0))]) }
            + conditional.map { JSON.object([("nextStep", .string($0.0)), ("expression", .string($0.1))]) }
        return .object(
            [
                ("id", .string(id)), ("name", .string("Step \(id)")), ("action", .object(action)),
                ("paths", .array(pathList)),
            ] + options)
    }

    func post(_ path: String, _ body: JSON, token: String? = nil) throws -> HTTPResponse {
        try client.postJSON(base + path, body, token: token ?? admin)
    }

    func get(_ path: String, token: String? = nil) throws -> HTTPResponse {
        try client.get(base + path, token: token ?? admin)
    }

    func diagram(_ steps: [JSON], initial: String? = nil) throws -> String {
        var body: [(String, JSON)] = [("diagramName", "test diagram"), ("steps", .array(steps))]
        if let initial { body.append(("initialStepId", .string(initial))) }
        let response = try post("/diagrams", .object(body))
        guard response.status == 200, let id = response.json?["diagramId"]?.stringValue else {
            throw ClientError("creating diagram: \(response.status) \(response.text)")
        }
        return id
    }

    /// A template whose jobs' first step is assigned to the admin unless `defaults` say otherwise.
    func template(diagram: String, defaults: [(String, JSON)] = [], state: String = "Active") throws -> String {
        let body = JSON.object(
            [
                ("jobTemplateName", "test template"), ("diagramId", .string(diagram)), ("state", .string(state)),
                ("defaultAssignedType", "User"), ("defaultAssignedTo", "admin"),
            ] + defaults)
        let response = try post("/jobTemplates", body)
        guard response.status == 200, let id = response.json?["jobTemplateId"]?.stringValue else {
            throw ClientError("creating template: \(response.status) \(response.text)")
        }
        return id
    }

    func jobs(template: String, _ overrides: JSON = [:], token: String? = nil) throws -> [String] {
        let response = try post("/jobTemplates/\(template)/job", overrides, token: token)
        guard response.status == 200, let ids = response.json?["jobIds"]?.arrayValue?.compactMap(\.stringValue) else {
            throw ClientError("creating jobs: \(response.status) \(response.text)")
        }
        return ids
    }

    /// One job of a new diagram made of `steps`.
    func job(_ steps: [JSON], initial: String? = nil, defaults: [(String, JSON)] = [], _ overrides: JSON = [:]) throws -> String {
        try jobs(template: template(diagram: diagram(steps, initial: initial), defaults: defaults), overrides)[0]
    }

    func act(_ jobId: String, _ body: JSON, token: String? = nil) throws -> HTTPResponse {
        try post("/jobs/\(jobId)/action", body, token: token)
    }

    /// The per-step statuses of a 200 action response.
    func outcomes(_ jobId: String, _ body: JSON, token: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws
        -> [String]
    {
        let response = try act(jobId, body, token: token)
        XCTAssertEqual(response.status, 200, response.text, file: file, line: line)
        let responses = response.json?["stepResponses"]?.arrayValue ?? []
        XCTAssertEqual(
            response.json?["success"]?.boolValue, responses.allSatisfy { $0["status"]?.stringValue == "Success" },
            file: file, line: line)
        return responses.compactMap { $0["status"]?.stringValue }
    }

    func job(_ jobId: String, holds: Bool = false) throws -> JSON {
        let response = try get("/jobs/\(jobId)" + (holds ? "?holds=true" : ""))
        guard response.status == 200, let json = response.json else {
            throw ClientError("reading job: \(response.status) \(response.text)")
        }
        return json
    }

    /// `stepId:stepStatus` of each current step.
    func current(_ jobId: String) throws -> [String] {
        try job(jobId)["currentSteps"]?.arrayValue?.map {
            "\($0["stepId"]?.stringValue ?? ""):\($0["stepStatus"]?.stringValue ?? "")"
        } ?? []
    }

    func history(_ jobId: String) throws -> [String] {
        let response = try get("/jobs/\(jobId)/history")
        return response.json?["jobHistory"]?.arrayValue?.map { entry in
            [entry["stepId"]?.stringValue, entry["action"]?.stringValue].compactMap { $0 }.joined(separator: ":")
        } ?? []
    }

    /// Asserts a Workflow Manager error body with the given status.
    static func assertError(_ response: HTTPResponse, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(response.status, status, response.text, file: file, line: line)
        XCTAssertEqual(response.json?["error"]?["code"]?.intValue, status, response.text, file: file, line: line)
        XCTAssertNotNil(response.json?["error"]?["message"]?.stringValue, response.text, file: file, line: line)
        XCTAssertNotNil(response.json?["error"]?["details"]?.arrayValue, response.text, file: file, line: line)
    }
}
