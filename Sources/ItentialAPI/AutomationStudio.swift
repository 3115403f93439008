import Engine
import HTTP
import Itential
import JSON
import SurfaceSupport

/// Workflows: Automation Studio's create, import, update, list and detail routes, the
/// workflow_builder delete, and validation.
enum AutomationStudio {
    static let routes: [Route<Session>] = [
        Route("POST", "/automation-studio/automations", ItentialAPI.access(ItentialAPI.Roles.write), create),
        Route("POST", "/automation-studio/automations/import", ItentialAPI.access(ItentialAPI.Roles.write), importAll),
        Route("PUT", "/automation-studio/automations/{id}", ItentialAPI.access(ItentialAPI.Roles.write), update),
        Route("GET", "/automation-studio/workflows", ItentialAPI.access(ItentialAPI.Roles.read), list),
        Route("GET", "/automation-studio/workflows/detailed/{name}", ItentialAPI.access(ItentialAPI.Roles.read), detailed),
        Route("DELETE", "/workflow_builder/workflows/delete/{name}", ItentialAPI.access(ItentialAPI.Roles.write), delete),
        Route("POST", "/workflow_engine/workflows/validate", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, _ in
            try validate(request, session, keys: ["asset", "workflow"])
        },
        Route("POST", "/automation-studio/workflows/validate", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, _ in
            try validate(request, session, keys: ["workflow"])
        },
    ]

    static func create(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let body = try ItentialAPI.objectBody(request)
        guard let workflow = body["automation"] else { throw HTTPError.badRequest("automation is required") }
        let created = try EngineErrors.mapped { try session.itentialWorkflows.create(workflow, by: user) }
        let id = created["_id"]?.stringValue ?? ""
        return .json(["created": created, "edit": .string("/automation-studio/#/edit?tab=1&automation_id=\(id)")])
    }

    static func importAll(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let body = try ItentialAPI.objectBody(request)
        guard let workflows = body["automations"]?.arrayValue, !workflows.isEmpty else {
            throw HTTPError.badRequest("automations must be a non-empty array of workflows")
        }
        let imported = try EngineErrors.mapped { try session.itentialWorkflows.importAll(workflows, by: user) }
        return ItentialAPI.envelope("Successfully imported \(imported.count) of \(workflows.count) documents", .array(imported))
    }

    static func update(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let body = try ItentialAPI.objectBody(request)
        guard let workflow = body["update"] else { throw HTTPError.badRequest("update is required") }
        let id = request.parameter("id")
        guard let updated = try EngineErrors.mapped({ try session.itentialWorkflows.update(id: id, workflow, by: user) }) else {
            throw HTTPError.notFound("Workflow \(id) not found")
        }
        return .json(updated)
    }

    /// `limit` (default 25), `skip`, `equals[name]`, `equals[_id]`, `contains[name]`,
    /// `starts-with[name]`, `include=a,b` → `{items, count, skip, limit, total, end, next, previous}`.
    static func list(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let limit = try number(request, "limit") ?? 25
        let skip = try number(request, "skip") ?? 0
        var filter = ItentialWorkflows.Filter()
        filter.name = request.queryValue("equals[name]")
        filter.id = request.queryValue("equals[_id]")
        filter.nameContains = request.queryValue("contains[name]")
        filter.nameStartsWith = request.queryValue("starts-with[name]")
        let page = try session.itentialWorkflows.list(filter, limit: limit, skip: skip)
        var items = page.items
        if let include = request.queryValue("include") {
            let fields = Set(include.split(separator: ",").map(String.init) + ["_id"])
            items = items.map { .object(($0.objectValue ?? []).filter { fields.contains($0.0) }) }
        }
        let end = skip + items.count
        return .json([
            "items": .array(items), "count": .number(items.count), "skip": .number(skip), "limit": .number(limit),
            "total": .number(page.total), "end": .number(end),
            "next": end < page.total ? .number(end) : .null,
            "previous": skip > 0 ? .number(max(0, skip - limit)) : .null,
        ])
    }

    static func number(_ request: Request, _ name: String) throws -> Int? {
        guard let text = request.queryValue(name) else { return nil }
        guard let value = Int(text), value >= 0, value <= 10_000 else {
            throw HTTPError.badRequest("\(name) must be an integer from 0 to 10000")
        }
        return value
    }

    /// The workflow, or `{}` when there is none (as Automation Studio answers).
    static func detailed(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        return .json(try session.itentialWorkflows.find(name: request.parameter("name")) ?? [:])
    }

    static func delete(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let name = request.parameter("name")
        guard let deleted = try session.itentialWorkflows.delete(name: name) else {
            throw HTTPError.notFound("Workflow \(name) not found")
        }
        return .json(["lastErrorObject": ["n": 1], "value": deleted, "ok": 1])
    }

    /// The workflow under the first of `keys` the body has (the engine route takes `asset`, and
    /// `workflow` as older clients send it); the engine route adds `isValid`.
    static func validate(_ request: Request, _ session: Session, keys: [String]) throws -> Response {
        let body = try ItentialAPI.objectBody(request)
        let names = keys.joined(separator: " or ")
        guard let workflow = keys.lazy.compactMap({ body[$0] }).first, case .object = workflow else {
            throw HTTPError.badRequest("\(names) must be a workflow object")
        }
        let errors = JSON.array(WorkflowGraph(workflow).errors.map { ["task": .string($0.task), "message": .string($0.message)] })
        if keys.contains("asset") {
            return .json(["isValid": .bool(errors.arrayValue?.isEmpty ?? true), "errors": errors, "warnings": []])
        }
        return .json(["errors": errors, "warnings": []])
    }
}
