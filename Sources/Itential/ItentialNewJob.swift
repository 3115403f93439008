import Engine
import JSON
import JSONSchema

/// A new Itential job from a workflow (spec §2.1): a snapshot of the workflow with the start
/// options, its tasks, and for a child job its parent. jobs/start and childJob both build here.
package enum ItentialNewJob {
    package struct Initiator {
        let accountId: String
        let username: String

        package init(accountId: String, username: String) {
            self.accountId = accountId
            self.username = username
        }
    }

    /// The task and job a child job was spawned by.
    package struct Parent {
        let job: String
        let task: String
        let iteration: String?
        /// The data_array index of a loop's child.
        let element: Int?
        let ancestors: [JSON]
    }

    /// Why a workflow cannot start with some variables.
    package enum StartRefusal: Error, Equatable {
        /// A draft: the workflow's validation errors.
        case draft(workflow: String, errors: [JSON])
        /// Variables its `inputSchema` refuses, one line per violation.
        case variablesRefused([String])

        package var message: String {
            switch self {
            case let .draft(workflow, _): "Workflow \(workflow) has validation errors and cannot be started"
            case let .variablesRefused(violations): "Job variables do not match the workflow's inputSchema: \(violations.first ?? "")"
            }
        }

        /// The details, as the platform lists them in `data`.
        package var data: JSON {
            switch self {
            case let .draft(_, errors): .array(errors)
            case let .variablesRefused(violations): .array(violations.map(JSON.string))
            }
        }
    }

    /// Why the workflow cannot start with those variables; nil when it can.
    package static func refusal(_ workflow: JSON, name: String, variables: JSON) -> StartRefusal? {
        if let errors = workflow["errors"]?.arrayValue, !errors.isEmpty { return .draft(workflow: name, errors: errors) }
        if let schema = workflow["inputSchema"], case .object = schema {
            let violations = JSONSchema(schema).validate(variables).map(\.description)
            if !violations.isEmpty { return .variablesRefused(violations) }
        }
        return nil
    }

    package static func objectId() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<12).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    package static func make(
        id: String, workflowRowId: Int64, workflow: JSON, options: JSON, variables: JSON, initiator: Initiator,
        parent: Parent? = nil
    ) -> NewJob {
        let now = Timestamp.formatMilliseconds(WallClock.now)
        let jobVariables = JSON.object(
            [("_id", .string(id)), ("initiator", .string(initiator.username))]
                + (variables.objectValue ?? []).filter { $0.0 != "_id" && $0.0 != "initiator" })
        let parentDocument: JSON =
            parent.map { parent in
                [
                    "job": .string(parent.job), "task": .string(parent.task), "iteration": parent.iteration.map(JSON.string) ?? .null,
                    "element": parent.element.map { .number($0) } ?? .null,
                ]
            } ?? .null
        let document: JSON = [
            "name": workflow["name"] ?? .null, "description": options["description"] ?? "",
            "type": options["type"] ?? "automation", "tasks": workflow["tasks"] ?? [:], "transitions": workflow["transitions"] ?? [:],
            "variables": jobVariables, "error": [], "warnings": [], "validationErrors": [],
            "ancestors": .array((parent?.ancestors ?? []) + [.string(id)]),
            "parent": parentDocument, "errorHandler": workflow["errorHandler"] ?? .null, "watchers": [], "groups": options["groups"] ?? [],
            "decorators": workflow["decorators"] ?? [], "metrics": ["user": .string(initiator.accountId)], "locked": false,
            "font_size": workflow["font_size"] ?? 12, "canvasVersion": workflow["canvasVersion"] ?? 3,
            "encodingVersion": workflow["encodingVersion"] ?? 1, "sla": workflow["sla"] ?? 0,
            "preAutomationTime": workflow["preAutomationTime"] ?? 0, "tags": workflow["tags"] ?? [],
            "created": .string(now), "created_by": .string(initiator.accountId), "last_updated": .string(now),
            "last_updated_by": .string(initiator.accountId),
        ]
        let tasks = (workflow["tasks"]?.objectValue ?? []).enumerated().map { position, entry in
            let (kind, automatic) = ItentialTasks.kind(of: entry.0, entry.1)
            return NewTask(key: entry.0, position: position, kind: kind, automatic: automatic, input: entry.1)
        }
        var job = NewJob(
            surface: .itential, publicId: id, name: workflow["name"]?.stringValue ?? "", status: "running", owner: nil,
            document: document, tasks: tasks)
        job.workflowId = workflowRowId
        return job
    }
}
