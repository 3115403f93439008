import Engine
import HTTP
import Itential
import JSON
import SurfaceSupport

/// WorkFlowEngine routes that client libraries still call: its metrics (2023.2 keeps them),
/// and the pre-2023 job, task and workflow routes, each on the same engine calls as its
/// Operations Manager counterpart, answering the bare legacy shapes (no envelope). Job groups
/// are served here for both dialects.
enum ItentialLegacyRoutes {
    static let read = ItentialAPI.access(ItentialAPI.Roles.read)
    static let write = ItentialAPI.access(ItentialAPI.Roles.write)

    static let routes: [Route<Session>] =
        metrics + searches + jobReads + watching + ["workflow_engine", "operations-manager", "operations_manager"].flatMap(groupRoutes)
        + workflows

    // MARK: Metrics

    static let metrics: [Route<Session>] = [
        Route("GET", "/workflow_engine/jobs/metrics", read) { request, session, caller in
            var query = try ItentialAutomationRoutes.catalogQuery(
                request, caller, fields: ["_id", "workflow.name", "jobsComplete", "totalRunTime"])
            if request.queryValue("sort") == nil { query.sort = "workflow.name" }
            return bare(try session.itentialMetrics.jobs(query))
        },
        Route("GET", "/workflow_engine/tasks/metrics", read) { request, session, caller in
            let query = try ItentialAutomationRoutes.catalogQuery(
                request, caller, fields: ["_id", "app", "name", "taskType", "taskId", "global", "workflow.name"])
            return bare(try session.itentialMetrics.tasks(query))
        },
    ]

    static func bare(_ page: ItentialSearch.Page<JSON>) -> Response {
        .json(["results": .array(page.items), "total": .number(page.total)])
    }

    // MARK: Searches

    static let searches: [Route<Session>] =
        [
            // {"options": {query, fields, sort, skip, limit, expand}}
            Route("POST", "/workflow_engine/jobs/search", read) { request, session, caller in
                let options = try optionsObject(try ItentialAPI.objectBody(request))
                let query = try searchQuery(options, conditions: [options["query"] ?? .null], caller)
                return paged(try session.itentialJobs.search(query.search), query) { ItentialJobDocument.render($0, .legacy) }
            },
            // {"filter": {...}, "options": {...}}: the top-level filter and options.query both hold.
            Route("POST", "/workflow_engine/tasks/search", read) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                let options = try optionsObject(body)
                let query = try searchQuery(options, conditions: [body["filter"] ?? .null, options["query"] ?? .null], caller)
                return paged(try session.itentialManualTasks.search(query.search), query, render: ItentialTaskRoutes.document)
            },
            // {"query": {...}, "options": {...}}
            Route("POST", "/workflow_engine/queryJobs", read) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                let query = try searchQuery(try optionsObject(body), conditions: [body["query"] ?? .null], caller)
                return paged(try session.itentialJobs.search(query.search), query) { ItentialJobDocument.render($0, .legacy) }
            },
            Route("POST", "/workflow_engine/jobs/find", read) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                let query = try searchQuery(try optionsObject(body), conditions: [body["query"] ?? .null], caller)
                return .json(
                    .array(
                        try session.itentialJobs.search(query.search).items.map { query.project(ItentialJobDocument.render($0, .legacy)) }))
            },
            // Brief tasks of running jobs: {"query": {...}}
            Route("POST", "/workflow_engine/queryTasksBrief", read) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                let query = try searchQuery(
                    try optionsObject(body), conditions: [body["query"] ?? .null, ["job.status": "running"]], caller)
                return .json(.array(try session.itentialManualTasks.search(query.search).items.map(brief)))
            },
        ]
        + ["GET", "POST"].map { method in
            // {"options": {fields, filter, page: {skip, limit}, sort: {field, direction}}}
            Route(method, "/workflow_engine/getJobList/{status}", read) { request, session, caller in
                let options = try optionsObject(request.body.isEmpty ? [:] : try ItentialAPI.objectBody(request))
                guard let statuses = listStatuses[request.parameter("status")] else {
                    throw HTTPError.badRequest("status must be one of \(listStatuses.keys.sorted().joined(separator: ", "))")
                }
                let sort = try options["sort"].map { sort -> (path: [String], descending: Bool) in
                    guard let field = sort["field"]?.stringValue, let direction = sort["direction"]?.doubleValue, abs(direction) == 1 else {
                        throw HTTPError.badRequest("options.sort must be {\"field\": <path>, \"direction\": 1 or -1}")
                    }
                    return (ItentialSearchQuery.path(field), direction < 0)
                }
                let query = try ItentialLegacyQuery.search(
                    conditions: [options["filter"] ?? .null, ["status": ["$in": .array(statuses.map(JSON.string))]]],
                    fields: options["fields"], sort: sort, skip: options["page"]?["skip"], limit: options["page"]?["limit"], caller: caller)
                return paged(try session.itentialJobs.search(query.search), query) { ItentialJobDocument.render($0, .legacy) }
            }
        }

    /// getJobList's statuses, as the legacy API spells them.
    static let listStatuses: [String: [String]] = [
        "active": ["running", "paused"], "running": ["running"], "paused": ["paused"], "error": ["error"], "complete": ["complete"],
        "cancelled": ["canceled"], "canceled": ["canceled"], "incomplete": ["incomplete"],
    ]

    static func optionsObject(_ body: JSON) throws -> JSON {
        let options = body["options"] ?? [:]
        guard case .object = options else { throw HTTPError.badRequest("options must be an object") }
        return options
    }

    static func searchQuery(_ options: JSON, conditions: [JSON], _ caller: User) throws -> ItentialSearchQuery {
        try ItentialLegacyQuery.search(
            conditions: conditions, fields: options["fields"], sort: try ItentialLegacyQuery.sort(options["sort"]), skip: options["skip"],
            limit: options["limit"], caller: caller)
    }

    /// `{results, skip, limit, total}`: clients page by adding `limit` to `skip`.
    static func paged<Item>(_ page: ItentialSearch.Page<Item>, _ query: ItentialSearchQuery, render: (Item) -> JSON) -> Response {
        .json([
            "results": .array(page.items.map { query.project(render($0)) }), "skip": .number(query.search.skip),
            "limit": .number(query.search.limit), "total": .number(page.total),
        ])
    }

    static func brief(_ task: ItentialIteration) -> JSON {
        [
            "_id": .string(task.id), "name": task.definition["name"] ?? "", "summary": task.definition["summary"] ?? "",
            "app": task.definition["app"] ?? "", "type": task.definition["type"] ?? "",
            "status": .string(ItentialTaskStatus.name(task.status)),
            "job": ["_id": .string(task.jobId), "task": .string(task.key), "name": .string(task.jobName)],
        ]
    }

    // MARK: Job reads

    static let jobReads: [Route<Session>] = [
        Route("GET", "/workflow_engine/getEntireJob/{id}", read) { request, session, caller in
            .json(ItentialJobDocument.render(try ItentialJobRoutes.job(session, id: request.parameter("id"), for: caller), .legacy))
        },
        // Without what each task was given, returned and erred with.
        Route("GET", "/workflow_engine/getJobShallow/{id}", read) { request, session, caller in
            let job = ItentialJobDocument.render(try ItentialJobRoutes.job(session, id: request.parameter("id"), for: caller), .legacy)
            let tasks = (job["tasks"]?.objectValue ?? []).map { key, task in
                (key, JSON.object((task.objectValue ?? []).filter { !["app", "variables", "error"].contains($0.0) }))
            }
            return .json(job.setting("tasks", to: .object(tasks)))
        },
        Route("GET", "/workflow_engine/job/statuses/{id}", read) { request, session, caller in
            let job = try ItentialJobRoutes.job(session, id: request.parameter("id"), for: caller)
            return .json(.object(job.tasks.map { ($0.key, .string(ItentialTaskStatus.name($0.status))) }))
        },
        Route("GET", "/workflow_engine/job/{id}/output", read) { request, session, caller in
            .json(try ItentialJobRoutes.job(session, id: request.parameter("id"), for: caller).document["variables"] ?? [:])
        },
    ]

    // MARK: Watching

    static let watching: [Route<Session>] =
        ["PUT", "DELETE"].map { method in
            // The caller watches (PUT) or stops watching (DELETE); answers their account id.
            Route(method, "/workflow_engine/job/{id}/watch", read) { request, session, caller in
                let id = try ItentialJobRoutes.jobId(request.parameter("id"))
                try ItentialAccess.requireAll([id], caller, session)
                try ItentialJobControl.watch([id], [caller.accountId], watching: method == "PUT", session)
                return .json(.string(caller.accountId))
            }
        } + [
            // {"job_id", "watchers": [account ids]}: answers the ids added.
            Route("POST", "/workflow_engine/job/watchers/watch", write) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["job_id", "watchers"])
                let id = try ItentialJobRoutes.jobId(body["job_id"]?.stringValue ?? "")
                try ItentialAccess.requireAll([id], caller, session)
                let accounts = try ItentialJobControl.watcherAccounts(body["watchers"], session)
                try ItentialJobControl.watch([id], accounts, watching: true, session)
                return .json(.array(accounts.map(JSON.string)))
            }
        ]

    // MARK: Job groups

    /// List (legacy only), add `{"group"}`, replace `{"groups"}`, remove all or one. The legacy
    /// routes answer the groups; Operations Manager's wrap them in its envelope.
    static func groupRoutes(_ base: String) -> [Route<Session>] {
        let legacy = base == "workflow_engine"
        let answer = { @Sendable (groups: [String], done: String) -> Response in
            let list = JSON.array(groups.map(JSON.string))
            return legacy ? .json(list) : ItentialAPI.envelope("Successfully \(done)", list)
        }
        let list: [Route<Session>] =
            legacy
            ? [
                Route("GET", "/\(base)/jobs/{id}/groups", read) { request, session, caller in
                    let job = try ItentialJobRoutes.job(session, id: request.parameter("id"), for: caller)
                    return .json(job.document["groups"] ?? [])
                }
            ] : []
        return list + [
            Route("POST", "/\(base)/jobs/{id}/groups", write) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["group"])
                let group = try groupIds(body["group"].map { [$0] } ?? [], "group")
                return answer(try changeGroups(request, session, caller) { $0 + group }, "added the group")
            },
            Route("PUT", "/\(base)/jobs/{id}/groups", write) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["groups"])
                let groups = try groupIds(body["groups"]?.arrayValue, "groups")
                return answer(try changeGroups(request, session, caller) { _ in groups }, "replaced the groups")
            },
            Route("DELETE", "/\(base)/jobs/{id}/groups", write) { request, session, caller in
                answer(try changeGroups(request, session, caller) { _ in [] }, "removed the groups")
            },
            Route("DELETE", "/\(base)/jobs/{id}/groups/{group}", write) { request, session, caller in
                let group = request.parameter("group")
                return answer(try changeGroups(request, session, caller) { $0.filter { $0 != group } }, "removed the group")
            },
        ]
    }

    /// 24-hex group ids, as jobs/start takes them.
    static func groupIds(_ values: [JSON]?, _ name: String) throws -> [String] {
        let ids = values?.compactMap(\.stringValue) ?? []
        guard let values, ids.count == values.count, ids.count <= 100, ids.allSatisfy(ItentialJobRoutes.isObjectId) else {
            throw HTTPError.badRequest("\(name) must be 24-hex group ids")
        }
        return ids
    }

    static func changeGroups(_ request: Request, _ session: Session, _ caller: User, _ change: ([String]) -> [String]) throws -> [String] {
        let id = try ItentialJobRoutes.job(session, id: request.parameter("id"), for: caller).id
        guard let groups = try session.itentialJobs.changeGroups(id: id, by: caller, change) else {
            throw HTTPError.notFound("Job \(id) not found")
        }
        return groups
    }

    // MARK: Workflows

    static let workflows: [Route<Session>] = [
        Route("GET", "/workflow_engine/workflows/detailed/{name}", read) { request, session, _ in
            .json(try workflow(request.parameter("name"), session))
        },
        // The job variables the workflow reads: its inputSchema's properties and `$var.job.<name>` references.
        Route("GET", "/workflow_engine/workflows/variables/{name}", read) { request, session, _ in
            .json(.array(WorkflowGraph.jobVariables(try workflow(request.parameter("name"), session)).map(JSON.string)))
        },
        // {"options": {query: {name | _id: value, or name: {$regex}}, skip, limit}}
        Route("POST", "/workflow_engine/workflows/search", read) { request, session, _ in
            let options = try optionsObject(try ItentialAPI.objectBody(request))
            var filter = ItentialWorkflows.Filter()
            for condition in try ItentialLegacyQuery.filters(options["query"] ?? .null) {
                switch (condition.path, condition.op) {
                case (["name"], .equals): filter.name = condition.value
                case (["_id"], .equals): filter.id = condition.value
                case (["name"], .contains): filter.nameContains = condition.value
                case (["name"], .startsWith): filter.nameStartsWith = condition.value
                default: throw HTTPError.badRequest("workflows/search filters on name (equal, or $regex text or ^text) and _id only")
                }
            }
            var limit = try ItentialLegacyQuery.count(options["limit"], "limit") ?? ItentialLegacyQuery.defaultLimit
            if limit == 0 || limit > ItentialSearchQuery.maxLimit { limit = ItentialSearchQuery.maxLimit }
            let skip = try ItentialLegacyQuery.count(options["skip"], "skip") ?? 0
            let (include, exclude) = try ItentialLegacyQuery.projection(options["fields"])
            let projection = ItentialSearchQuery(
                search: ItentialSearch(filters: [], sortPath: [], descending: false, limit: limit, skip: skip), include: include,
                exclude: exclude)
            let page = try session.itentialWorkflows.list(filter, limit: limit, skip: skip)
            return .json([
                "results": .array(page.items.map(projection.project)), "skip": .number(skip), "limit": .number(limit),
                "total": .number(page.total),
            ])
        },
    ]

    static func workflow(_ name: String, _ session: Session) throws -> JSON {
        guard let workflow = try session.itentialWorkflows.find(name: name) else { throw HTTPError.notFound("Workflow \(name) not found") }
        return workflow
    }
}
