import Engine
import HTTP
import Itential
import JSON

/// Manual tasks: read, claim, release, assign and finish (Operations Manager and legacy
/// routes). A waiting manual task is `running`; only its owner or an admin finishes it.
enum ItentialTaskRoutes {
    static let routes: [Route<Session>] =
        ["operations-manager", "operations_manager"].flatMap { base in
            [
                Route("GET", "/\(base)/tasks", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                    let query = try ItentialSearchQuery(request, caller: caller)
                    return query.envelope(try session.itentialManualTasks.search(query.search), render: document)
                },
                Route("GET", "/\(base)/tasks/{id}", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                    let projection = try ItentialSearchQuery(request, caller: caller)
                    return ItentialAPI.envelope(
                        "Successfully retrieved the task",
                        projection.project(document(try iteration(request.parameter("id"), session, for: caller))))
                },
                Route("POST", "/\(base)/tasks/{id}/claim", ItentialAPI.access(ItentialAPI.Roles.operations)) { request, session, caller in
                    guard try ItentialAPI.objectBody(request).objectValue?.isEmpty ?? true else {
                        throw HTTPError.badRequest("body must NOT have additional properties")
                    }
                    let claimed = try claim(request.parameter("id"), for: caller, by: caller, session)
                    return ItentialAPI.envelope("Successfully claimed the task", document(claimed))
                },
                Route("POST", "/\(base)/tasks/{id}/release", ItentialAPI.access(ItentialAPI.Roles.operations)) { request, session, caller in
                    return ItentialAPI.envelope(
                        "Successfully released the task", document(try release(request.parameter("id"), by: caller, session)))
                },
                Route("POST", "/\(base)/tasks/{id}/assign", ItentialAPI.access(ItentialAPI.Roles.operations)) { request, session, caller in
                    let body = try ItentialAPI.objectBody(request)
                    try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["userId"])
                    guard let account = body["userId"]?.stringValue, let assignee = try session.accounts.user(accountId: account) else {
                        throw HTTPError.badRequest("userId must be the account id of an existing user")
                    }
                    guard caller.hasRole("admin") || assignee.id == caller.id else {
                        throw HTTPError.forbidden("Only an admin may assign a task to another user")
                    }
                    let id = request.parameter("id")
                    let current = try iteration(id, session, for: caller)
                    try checkGroups(current, assignee)
                    guard try session.itentialManualTasks.assign(id, to: assignee.id, by: caller) else {
                        throw HTTPError.conflict("Task \(id) is not an active manual task")
                    }
                    return ItentialAPI.envelope("Successfully assigned the task", document(try iteration(id, session, for: caller)))
                },
                Route("POST", "/\(base)/jobs/{jobId}/tasks/{taskId}/finish", finisher) { request, session, caller in
                    let body = try ItentialAPI.objectBody(request)
                    try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["taskData"])
                    let job = try finish(
                        session, by: caller, jobId: request.parameter("jobId"), key: request.parameter("taskId"),
                        taskData: body["taskData"])
                    return ItentialAPI.envelope("Successfully finished the task", ItentialJobDocument.render(job))
                },
            ]
        } + [
            Route("POST", "/workflow_engine/tasks/claim", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["task_id", "user"])
                guard let id = body["task_id"]?.stringValue else { throw HTTPError.badRequest("task_id is required") }
                let account = body["user"]?.stringValue
                guard let claimant = try account.map({ try session.accounts.user(accountId: $0) }) ?? caller else {
                    throw HTTPError.badRequest("user must be the account id of an existing user")
                }
                guard claimant.id == caller.id || caller.hasRole("admin") else {
                    throw HTTPError.forbidden("Only an admin may claim a task for another user")
                }
                return .json(document(try claim(id, for: claimant, by: caller, session)))
            },
            Route("POST", "/workflow_engine/tasks/release", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["task_id"])
                guard let id = body["task_id"]?.stringValue else { throw HTTPError.badRequest("task_id is required") }
                return .json(document(try release(id, by: caller, session)))
            },
            Route("POST", "/workflow_engine/finishTask", finisher) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["task_id", "job_id", "task_data"])
                guard let id = body["task_id"]?.stringValue, let jobId = body["job_id"]?.stringValue else {
                    throw HTTPError.badRequest("task_id and job_id are required")
                }
                let current = try iteration(id, session, for: caller)
                guard current.jobId == jobId else { throw HTTPError.badRequest("Task \(id) is not a task of job \(jobId)") }
                let job = try finish(session, by: caller, jobId: jobId, key: current.key, taskData: body["task_data"])
                return .json(ItentialJobDocument.render(job, .legacy))
            },
            Route("POST", "/workflow_engine/jobs/finish_task/{jobId}/{taskId}", finisher) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["task_data"])
                let job = try finish(
                    session, by: caller, jobId: request.parameter("jobId"), key: request.parameter("taskId"),
                    taskData: body["task_data"])
                return .json(ItentialJobDocument.render(job, .legacy))
            },
        ]

    static func isIterationId(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map(\.count)
        return parts == [8, 4, 4, 4, 12] && text.utf8.allSatisfy { $0 == 45 || (48...57).contains($0) || (97...102).contains($0 | 0x20) }
    }

    /// The task iteration `id`, if `caller` may reach its job (see `ItentialAccess`).
    static func iteration(_ id: String, _ session: Session, for caller: User) throws -> ItentialIteration {
        guard isIterationId(id) else { throw HTTPError.badRequest("Task id \(id) must be an iteration UUID") }
        guard let iteration = try session.itentialManualTasks.iteration(id.lowercased()) else {
            throw HTTPError.notFound("Task \(id) not found")
        }
        try ItentialAccess.require(iteration.jobDocument, id: iteration.jobId, caller)
        return iteration
    }

    /// The claimant must be in one of the task's groups and one of the job's, when they have any.
    static func checkGroups(_ task: ItentialIteration, _ user: User) throws {
        let mine = Set(user.groupAccounts.flatMap { [$0.id, $0.name] })
        for (what, groups) in [("task", task.definition["groups"]), ("job", task.jobDocument["groups"])] {
            let ids = groups?.arrayValue?.compactMap(\.stringValue) ?? []
            if !ids.isEmpty, mine.isDisjoint(with: ids) {
                throw HTTPError.forbidden("User \(user.username) is not authorized to work task \(task.id) (not in the \(what)'s groups)")
            }
        }
    }

    static func claim(_ id: String, for claimant: User, by caller: User, _ session: Session) throws -> ItentialIteration {
        let current = try iteration(id, session, for: caller)
        try checkGroups(current, claimant)
        if try session.itentialManualTasks.claim(current.id, for: claimant.id, by: caller) {
            return try iteration(id, session, for: caller)
        }
        let now = try iteration(id, session, for: caller)
        guard !now.automatic, now.status == .ready, ["running", "paused"].contains(now.jobStatus) else {
            throw HTTPError.conflict("Task \(id) is not an active manual task")
        }
        if now.ownerAccountId == claimant.accountId { return now }
        throw HTTPError.conflict("Task \(id) is already claimed by \(now.ownerName ?? "another user")")
    }

    static func release(_ id: String, by caller: User, _ session: Session) throws -> ItentialIteration {
        let current = try iteration(id, session, for: caller)
        guard current.ownerAccountId != nil else { throw HTTPError.conflict("Task \(id) is not claimed") }
        guard try session.itentialManualTasks.release(current.id, by: caller, asAdmin: caller.hasRole("admin")) else {
            throw HTTPError.forbidden("Only the task owner or an administrator may release task \(id)")
        }
        return try iteration(id, session, for: caller)
    }

    /// Who may finish manual tasks.
    static let finisher = ItentialAPI.access(ItentialAPI.Roles.operations + ["support", "apiread"])

    /// `{"finish_state", "variables"}`: the state must be one the task offers (`success`;
    /// `failure` when it has a failure button).
    static func finish(_ session: Session, by caller: User, jobId: String, key: String, taskData: JSON?) throws -> ItentialJob {
        guard ItentialJobRoutes.isObjectId(jobId) else {
            throw HTTPError.badRequest("Job id \(jobId) must be 24 lowercase hexadecimal characters")
        }
        guard WorkflowGraph.isValidTaskKey(key), key != WorkflowGraph.start, key != WorkflowGraph.end else {
            throw HTTPError.badRequest("Task id \(key) must be 1 to 4 lowercase hexadecimal characters")
        }
        guard let taskData, case .object = taskData, let state = taskData["finish_state"]?.stringValue,
            let variables = taskData["variables"], case .object = variables
        else {
            throw HTTPError.badRequest("taskData needs finish_state (a string) and variables (an object)")
        }
        guard let current = try session.itentialManualTasks.iteration(jobId: jobId, key: key) else {
            throw HTTPError.notFound("Task \(key) of job \(jobId) not found")
        }
        try ItentialAccess.require(current.jobDocument, id: jobId, caller)
        let failureButton = current.definition["variables"]?["incoming"]?["btn_failure"]?.stringValue ?? ""
        guard state == "success" || (state == "failure" && !failureButton.isEmpty) else {
            throw HTTPError.badRequest("Invalid finish state \(state) for task \(key)")
        }
        do {
            try session.itentialManualTasks.finish(
                jobId: jobId, key: key, finishState: state, variables: variables, by: caller,
                asAdmin: caller.hasRole("admin"))
        } catch let refusal as ManualFinishRefusal {
            switch refusal {
            case .noSuchTask: throw HTTPError.notFound("Task \(key) of job \(jobId) not found")
            case .notActive: throw HTTPError.conflict("Task \(key) is not an active manual task")
            case .unclaimed: throw HTTPError.conflict("Task \(key) must be claimed before it is finished")
            case .claimedByOther: throw HTTPError.forbidden("Only the task owner or an administrator may finish task \(key)")
            }
        }
        return try ItentialJobRoutes.job(session, id: jobId, for: caller)
    }

    /// The iteration document (spec §4.4), with `$var` references in its incoming variables
    /// resolved against the job as it is now.
    static func document(_ task: ItentialIteration) -> JSON {
        let definition = task.definition
        let context = TaskContext(input: definition, upstream: task.outputs, jobVariables: task.jobDocument["variables"] ?? [:])
        let incoming = (try? ItentialTasks.Incoming(context).values) ?? definition["variables"]?["incoming"] ?? [:]
        var fields: [(String, JSON)] = [("_id", .string(task.id))]
        for key in ["name", "summary", "description", "app", "location", "type", "view", "groups"] {
            if let value = definition[key] { fields.append((key, value)) }
        }
        let end = task.status.isFinished ? task.finishedAt : nil
        fields += [
            ("status", .string(ItentialTaskStatus.name(task.status))),
            (
                "job",
                [
                    "_id": .string(task.jobId), "task": .string(task.key), "name": .string(task.jobName),
                    "description": task.jobDocument["description"] ?? "", "ancestors": task.jobDocument["ancestors"] ?? [],
                ]
            ),
            (
                "variables",
                [
                    "incoming": incoming, "outgoing": task.output ?? definition["variables"]?["outgoing"] ?? [:],
                    "error": definition["variables"]?["error"] ?? "", "decorators": definition["variables"]?["decorators"] ?? [],
                ]
            ),
            ("incomingRefs", []),
            (
                "metrics",
                [
                    "start_time": task.startedAt.map { .number($0.rounded()) } ?? .null,
                    "claim_time": task.claimedAt.map { .number($0.rounded()) } ?? .null,
                    "end_time": end.map { .number($0.rounded()) } ?? .null,
                    "run_time": end.flatMap { end in task.startedAt.map { .number((end - $0).rounded()) } } ?? .null,
                    "finish_state": task.status.isFinished ? .string(task.finishState) : .null,
                    "owner": .string(task.ownerAccountId ?? ""), "user": .string(task.ownerAccountId), "retrying": false,
                ]
            ),
            ("encodingVersion", 1),
        ]
        return .object(fields)
    }
}
