import Engine
import HTTP
import Itential
import JSON

/// Starting and reading jobs (Operations Manager and legacy workflow_engine routes), and the
/// legacy job claim.
enum ItentialJobRoutes {
    static let routes: [Route<Session>] =
        ["operations-manager", "operations_manager"].flatMap { base in
            [
                Route("POST", "/\(base)/jobs/start", ItentialAPI.access(ItentialAPI.Roles.write)) { request, session, user in
                    let body = try ItentialAPI.objectBody(request)
                    try refuseUnknownMembers(body, allowed: ["workflow", "options"])
                    guard let workflow = body["workflow"]?.stringValue, !workflow.isEmpty else {
                        throw HTTPError.badRequest("workflow is required and must be a workflow name")
                    }
                    let job = try start(request, session, user, workflow: workflow, options: body["options"])
                    return ItentialAPI.envelope("Successfully started the job", ItentialJobDocument.render(job))
                },
                Route("GET", "/\(base)/jobs", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                    let query = try ItentialSearchQuery(request, caller: caller)
                    return query.envelope(try session.itentialJobs.search(query.search)) { ItentialJobDocument.render($0) }
                },
                Route("GET", "/\(base)/jobs/{id}", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                    let projection = try ItentialSearchQuery(request, caller: caller)
                    return ItentialAPI.envelope(
                        "Successfully retrieved the job",
                        projection.project(ItentialJobDocument.render(try job(session, id: request.parameter("id"), for: caller))))
                },
            ]
        } + [
            Route("POST", "/workflow_engine/startJobWithOptions/{workflow}", ItentialAPI.access(ItentialAPI.Roles.write)) {
                request, session, user in
                let body = try ItentialAPI.objectBody(request)
                try refuseUnknownMembers(body, allowed: ["options"])
                let job = try start(request, session, user, workflow: request.parameter("workflow"), options: body["options"])
                return .json(ItentialJobDocument.render(job, .legacy))
            },
            Route("GET", "/workflow_engine/getJob/{id}", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                .json(ItentialJobDocument.render(try job(session, id: request.parameter("id"), for: caller), .legacy))
            },
            Route("GET", "/workflow_engine/job/{id}/details", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                return .json(ItentialJobDocument.render(try job(session, id: request.parameter("id"), for: caller), .legacy))
            },
            Route("POST", "/workflow_engine/claimJob", ItentialAPI.access(ItentialAPI.Roles.read), claimJob),
            Route("POST", "/workflow_engine/releaseJob", ItentialAPI.access(ItentialAPI.Roles.read), releaseJob),
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

    /// A job id from a path: 400 unless 24 lowercase hex digits.
    static func jobId(_ id: String) throws -> String {
        guard isObjectId(id) else { throw HTTPError.badRequest("Job id \(id) must be 24 lowercase hexadecimal characters") }
        return id
    }

    /// The job `id`, if `caller` may reach it (see `ItentialAccess`).
    static func job(_ session: Session, id: String, for caller: User) throws -> ItentialJob {
        let id = try jobId(id)
        guard let job = try session.itentialJobs.job(id: id) else { throw HTTPError.notFound("Job \(id) not found") }
        try ItentialAccess.require(job.document, id: id, caller)
        return job
    }

    // MARK: Start

    static func start(_ request: Request, _ session: Session, _ user: User, workflow name: String, options: JSON?) throws -> ItentialJob {
        guard let options, case .object = options else { throw HTTPError.badRequest("options is required and must be an object") }
        let variables = options["variables"] ?? [:]
        guard case .object = variables else { throw HTTPError.badRequest("options.variables must be an object") }
        let groups = options["groups"] ?? []
        guard let groupIds = groups.arrayValue?.compactMap(\.stringValue), groupIds.count == groups.arrayValue?.count,
            groupIds.allSatisfy(isObjectId)
        else {
            throw HTTPError.badRequest("options.groups must be an array of 24-hex group ids")
        }
        for key in ["description", "type"] where options[key] != nil && options[key]?.stringValue == nil {
            throw HTTPError.badRequest("options.\(key) must be a string")
        }
        guard let (rowId, workflow) = try session.itentialWorkflows.findRecord(name: name) else {
            throw HTTPError.notFound("Workflow \(name) not found")
        }
        if let refusal = ItentialNewJob.refusal(workflow, name: name, variables: variables) {
            throw HTTPError(400, refusal.message, body: ["message": .string(refusal.message), "data": refusal.data])
        }
        let id = ItentialNewJob.objectId()
        return try session.itentialJobs.start(
            ItentialNewJob.make(
                id: id, workflowRowId: rowId, workflow: workflow, options: options, variables: variables,
                initiator: .init(accountId: user.accountId, username: user.username)), by: user)
    }

    // MARK: Claims

    /// `{"job_id", "user"}` → the bare updated job (spec decisions: claimJob). Claiming for
    /// another user takes an admin.
    static func claimJob(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let body = try ItentialAPI.objectBody(request)
        try refuseUnknownMembers(body, allowed: ["job_id", "user"])
        guard let id = body["job_id"]?.stringValue, isObjectId(id) else {
            throw HTTPError.badRequest("job_id is required and must be 24 lowercase hexadecimal characters")
        }
        guard let username = body["user"]?.stringValue, !username.isEmpty else { throw HTTPError.badRequest("user is required") }
        guard username == caller.username || caller.hasRole("admin") else {
            throw HTTPError.forbidden("Only an admin may claim a job for another user")
        }
        try ItentialAccess.requireAll([id], caller, session)
        switch try session.itentialJobs.claim(id: id, for: username, by: caller) {
        case let .claimed(job): return .json(ItentialJobDocument.render(job, .legacy))
        case .alreadyYours: break
        case .noSuchJob: throw HTTPError.notFound("Job \(id) not found")
        case .noSuchUser: throw HTTPError.badRequest("User \(username) does not exist")
        case let .finished(status): throw HTTPError.conflict("Job \(id) is \(status) and cannot be claimed")
        case let .claimedByOther(owner): throw HTTPError.conflict("Job \(id) is already claimed by \(owner)")
        }
        return .json(ItentialJobDocument.render(try job(session, id: id, for: caller), .legacy))
    }

    /// `{"job_id"}`: the claimant or an admin gives the job up.
    static func releaseJob(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let body = try ItentialAPI.objectBody(request)
        try refuseUnknownMembers(body, allowed: ["job_id"])
        guard let id = body["job_id"]?.stringValue, isObjectId(id) else {
            throw HTTPError.badRequest("job_id is required and must be 24 lowercase hexadecimal characters")
        }
        let current = try job(session, id: id, for: caller)
        guard current.ownerAccountId != nil else { throw HTTPError.conflict("Job \(id) is not claimed") }
        guard try session.itentialJobs.release(id: id, by: caller, asAdmin: caller.hasRole("admin")) else {
            throw HTTPError.forbidden("Only the claimant or an admin may release job \(id)")
        }
        return .json(ItentialJobDocument.render(try job(session, id: id, for: caller), .legacy))
    }
}
