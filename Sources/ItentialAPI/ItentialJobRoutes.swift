import Engine
import HTTP
import JSON
import JSONSchema

/// Starting and reading jobs (Operations Manager and legacy workflow_engine routes), and the
/// legacy job claim.
enum ItentialJobRoutes {
    static let routes: [Route<Session>] = ["operations-manager", "operations_manager"].flatMap { base in
        [
            Route("POST", "/\(base)/jobs/start") { request, session in
                let body = try ItentialAPI.objectBody(request)
                try refuseUnknownMembers(body, allowed: ["workflow", "options"])
                guard let workflow = body["workflow"]?.stringValue, !workflow.isEmpty else {
                    throw HTTPError.badRequest("workflow is required and must be a workflow name")
                }
                let job = try start(request, session, workflow: workflow, options: body["options"])
                return ItentialAPI.envelope("Successfully started the job", ItentialJobDocument.render(job))
            },
            Route("GET", "/\(base)/jobs") { request, session in
                _ = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
                let query = try ItentialSearchQuery(request)
                return query.envelope(try session.itentialJobs.search(query.search)) { ItentialJobDocument.render($0) }
            },
            Route("GET", "/\(base)/jobs/{id}") { request, session in
                _ = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
                return ItentialAPI.envelope("Successfully retrieved the job", ItentialJobDocument.render(try job(request, session)))
            },
        ]
    } + [
        Route("POST", "/workflow_engine/startJobWithOptions/{workflow}") { request, session in
            let body = try ItentialAPI.objectBody(request)
            try refuseUnknownMembers(body, allowed: ["options"])
            let job = try start(request, session, workflow: request.parameter("workflow"), options: body["options"])
            return .json(ItentialJobDocument.render(job, .legacy))
        },
        Route("GET", "/workflow_engine/getJob/{id}") { request, session in
            _ = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
            return .json(ItentialJobDocument.render(try job(request, session), .legacy))
        },
        Route("GET", "/workflow_engine/job/{id}/details") { request, session in
            _ = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
            return .json(ItentialJobDocument.render(try job(request, session), .legacy))
        },
        Route("POST", "/workflow_engine/claimJob", claimJob),
        Route("POST", "/workflow_engine/releaseJob", releaseJob),
    ]

    /// 400 naming the first member the route's schema does not allow.
    static func refuseUnknownMembers(_ body: JSON, allowed: Set<String>) throws {
        if let unknown = body.objectValue?.first(where: { !allowed.contains($0.0) })?.0 {
            throw HTTPError.badRequest("body must NOT have additional properties: \(unknown)")
        }
    }

    static func isObjectId(_ text: String) -> Bool {
        text.utf8.count == 24 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    static func job(_ request: Request, _ session: Session, id: String? = nil) throws -> ItentialJob {
        let id = id ?? request.parameter("id")
        guard isObjectId(id) else { throw HTTPError.badRequest("Job id \(id) must be 24 lowercase hexadecimal characters") }
        guard let job = try session.itentialJobs.job(id: id) else { throw HTTPError.notFound("Job \(id) not found") }
        return job
    }

    // MARK: Start

    static func start(_ request: Request, _ session: Session, workflow name: String, options: JSON?) throws -> ItentialJob {
        let user = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.write)
        guard let options, case .object = options else { throw HTTPError.badRequest("options is required and must be an object") }
        let variables = options["variables"] ?? [:]
        guard case .object = variables else { throw HTTPError.badRequest("options.variables must be an object") }
        let groups = options["groups"] ?? []
        guard let groupIds = groups.arrayValue?.compactMap(\.stringValue), groupIds.count == groups.arrayValue?.count,
              groupIds.allSatisfy(isObjectId) else {
            throw HTTPError.badRequest("options.groups must be an array of 24-hex group ids")
        }
        for key in ["description", "type"] where options[key] != nil && options[key]?.stringValue == nil {
            throw HTTPError.badRequest("options.\(key) must be a string")
        }
        guard let (rowId, workflow) = try session.itentialWorkflows.findRecord(name: name) else {
            throw HTTPError.notFound("Workflow \(name) not found")
        }
        if let errors = workflow["errors"]?.arrayValue, !errors.isEmpty {
            throw HTTPError(400, "Workflow \(name) has validation errors and cannot be started",
                            body: ["message": .string("Workflow \(name) has validation errors and cannot be started"), "data": .array(errors)])
        }
        if let schema = workflow["inputSchema"], case .object = schema {
            let violations = JSONSchema(schema).validate(variables)
            if !violations.isEmpty {
                let messages = violations.map(\.description)
                throw HTTPError(400, messages[0], body: ["message": .string("Job variables do not match the workflow's inputSchema: \(messages[0])"),
                                                         "data": .array(messages.map(JSON.string))])
            }
        }
        let id = newObjectId()
        let (document, tasks) = jobDocument(id: id, workflow: workflow, options: options, variables: variables, user: user)
        try session.itentialJobs.start(id: id, workflowRowId: rowId, name: name, document: document, tasks: tasks, by: user)
        return try job(request, session, id: id)
    }

    static func newObjectId() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<12).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    /// The job's stored document: a snapshot of the workflow and the start options (spec §2.1).
    static func jobDocument(id: String, workflow: JSON, options: JSON, variables: JSON, user: User) -> (JSON, [NewTask]) {
        let now = Timestamp.formatMilliseconds(WallClock.now)
        let jobVariables = JSON.object([("_id", .string(id)), ("initiator", .string(user.username))]
            + (variables.objectValue ?? []).filter { $0.0 != "_id" && $0.0 != "initiator" })
        let document: JSON = [
            "name": workflow["name"] ?? .null, "description": options["description"] ?? "",
            "type": options["type"] ?? "automation", "tasks": workflow["tasks"] ?? [:], "transitions": workflow["transitions"] ?? [:],
            "variables": jobVariables, "error": [], "warnings": [], "validationErrors": [], "ancestors": [.string(id)],
            "parent": .null, "errorHandler": workflow["errorHandler"] ?? .null, "watchers": [], "groups": options["groups"] ?? [],
            "decorators": workflow["decorators"] ?? [], "metrics": ["user": .string(user.accountId)], "locked": false,
            "font_size": workflow["font_size"] ?? 12, "canvasVersion": workflow["canvasVersion"] ?? 3,
            "encodingVersion": workflow["encodingVersion"] ?? 1, "sla": workflow["sla"] ?? 0,
            "preAutomationTime": workflow["preAutomationTime"] ?? 0, "tags": workflow["tags"] ?? [],
            "created": .string(now), "created_by": .string(user.accountId), "last_updated": .string(now),
            "last_updated_by": .string(user.accountId),
        ]
        let tasks = (workflow["tasks"]?.objectValue ?? []).enumerated().map { position, entry in
            let (kind, automatic) = ItentialTasks.kind(of: entry.0, entry.1)
            return NewTask(key: entry.0, position: position, kind: kind, automatic: automatic, input: entry.1)
        }
        return (document, tasks)
    }

    // MARK: Claims

    /// `{"job_id", "user"}` → the bare updated job (spec decisions: claimJob).
    static func claimJob(_ request: Request, _ session: Session) throws -> Response {
        let caller = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
        let body = try ItentialAPI.objectBody(request)
        try refuseUnknownMembers(body, allowed: ["job_id", "user"])
        guard let id = body["job_id"]?.stringValue, isObjectId(id) else {
            throw HTTPError.badRequest("job_id is required and must be 24 lowercase hexadecimal characters")
        }
        guard let username = body["user"]?.stringValue, !username.isEmpty else { throw HTTPError.badRequest("user is required") }
        switch try session.itentialJobs.claim(id: id, for: username, by: caller) {
        case .claimed, .alreadyYours: break
        case .noSuchJob: throw HTTPError.notFound("Job \(id) not found")
        case .noSuchUser: throw HTTPError.badRequest("User \(username) does not exist")
        case let .finished(status): throw HTTPError.conflict("Job \(id) is \(status) and cannot be claimed")
        case let .claimedByOther(owner): throw HTTPError.conflict("Job \(id) is already claimed by \(owner)")
        }
        return .json(ItentialJobDocument.render(try job(request, session, id: id), .legacy))
    }

    /// `{"job_id"}`: the claimant or an admin gives the job up.
    static func releaseJob(_ request: Request, _ session: Session) throws -> Response {
        let caller = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
        let body = try ItentialAPI.objectBody(request)
        try refuseUnknownMembers(body, allowed: ["job_id"])
        guard let id = body["job_id"]?.stringValue, isObjectId(id) else {
            throw HTTPError.badRequest("job_id is required and must be 24 lowercase hexadecimal characters")
        }
        let current = try job(request, session, id: id)
        guard current.ownerAccountId != nil else { throw HTTPError.conflict("Job \(id) is not claimed") }
        guard try session.itentialJobs.release(id: id, by: caller, asAdmin: caller.hasRole("admin")) else {
            throw HTTPError.forbidden("Only the claimant or an admin may release job \(id)")
        }
        return .json(ItentialJobDocument.render(try job(request, session, id: id), .legacy))
    }
}
