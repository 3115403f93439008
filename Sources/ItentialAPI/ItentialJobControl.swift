import Engine
import HTTP
import Itential
import JSON
import SurfaceSupport

/// Pause, resume and cancel (bulk and legacy), retry, continue and revert, and watching jobs.
enum ItentialJobControl {
    /// Which statuses each action applies to (spec §2.10).
    static let actions: [(name: String, past: String, action: JobControlAction, from: Set<String>, legacy: String)] = [
        ("pause", "paused", .pause, ["running"], "pauseJob"),
        ("resume", "resumed", .resume, ["paused"], "resumeJob"),
        ("cancel", "canceled", .cancel, ["running", "paused", "error"], "cancelJob"),
    ]

    static let routes: [Route<Session>] =
        actions.flatMap { entry in
            ["operations-manager", "operations_manager"].map { base in
                Route("POST", "/\(base)/jobs/\(entry.name)", ItentialAPI.access(ItentialAPI.Roles.write)) { request, session, caller in
                    let ids = try jobIds(try ItentialAPI.objectBody(request))
                    try ItentialAccess.requireAll(ids, caller, session)
                    let refusals = try session.jobs.control(
                        entry.action, surface: .itential, publicIds: ids, actor: .user(caller),
                        allowedFrom: entry.from)
                    guard refusals.isEmpty else {
                        let message = "Failed to \(entry.name) all jobs"
                        throw HTTPError(
                            409, message,
                            body: ["message": .string(message), "data": .object(refusals.map { ($0.publicId, .string($0.message)) })])
                    }
                    return ItentialAPI.envelope("Successfully \(entry.past) all jobs", .array(ids.map(JSON.string)))
                }
            } + [
                Route("POST", "/workflow_engine/\(entry.legacy)", ItentialAPI.access(ItentialAPI.Roles.write)) { request, session, caller in
                    let body = try ItentialAPI.objectBody(request)
                    try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["job_id"])
                    guard let id = body["job_id"]?.stringValue, ItentialJobRoutes.isObjectId(id) else {
                        throw HTTPError.badRequest("job_id must be 24 lowercase hexadecimal characters")
                    }
                    try ItentialAccess.requireAll([id], caller, session)
                    let refusals = try session.jobs.control(
                        entry.action, surface: .itential, publicIds: [id], actor: .user(caller),
                        allowedFrom: entry.from)
                    switch refusals.first {
                    case .unknown?: throw HTTPError.notFound(refusals[0].message)
                    case .wrongStatus?: throw HTTPError.conflict(refusals[0].message)
                    case nil: break
                    }
                    return .json(ItentialJobDocument.render(try ItentialJobRoutes.job(session, id: id, for: caller), .legacy))
                }
            ]
        } + ["operations-manager", "operations_manager"].flatMap(watchRoutes)
        + ["operations-manager", "operations_manager"].flatMap(rerunRoutes)

    static func watchRoutes(_ base: String) -> [Route<Session>] {
        ["watch", "unwatch"].flatMap { verb -> [Route<Session>] in
            [
                Route("POST", "/\(base)/jobs/{id}/\(verb)", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                    let id = try ItentialJobRoutes.jobId(request.parameter("id"))
                    try ItentialAccess.requireAll([id], caller, session)
                    try watch([id], [caller.accountId], watching: verb == "watch", session)
                    return ItentialAPI.envelope(
                        "Successfully \(verb)ed the job",
                        ItentialJobDocument.render(try ItentialJobRoutes.job(session, id: id, for: caller)))
                },
                Route("POST", "/\(base)/jobs/\(verb)", ItentialAPI.access(ItentialAPI.Roles.read)) { request, session, caller in
                    let ids = try jobIds(try ItentialAPI.objectBody(request))
                    try ItentialAccess.requireAll(ids, caller, session)
                    try watch(ids, [caller.accountId], watching: verb == "watch", session)
                    return ItentialAPI.envelope("Successfully \(verb)ed all jobs", .array(ids.map(JSON.string)))
                },
            ]
        } + [Route("POST", "/\(base)/jobs/{id}/add-watchers", ItentialAPI.access(ItentialAPI.Roles.write), addWatchers)]
    }

    /// `{"watchers": [account ids]}`: each an existing user's, added once.
    static func addWatchers(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let id = try ItentialJobRoutes.jobId(request.parameter("id"))
        try ItentialAccess.requireAll([id], caller, session)
        let body = try ItentialAPI.objectBody(request)
        try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["watchers"])
        try watch([id], try watcherAccounts(body["watchers"], session), watching: true, session)
        return ItentialAPI.envelope(
            "Successfully added watchers to the job",
            ItentialJobDocument.render(try ItentialJobRoutes.job(session, id: id, for: caller)))
    }

    /// `watchers`: a non-empty array of existing users' account ids.
    static func watcherAccounts(_ watchers: JSON?, _ session: Session) throws -> [String] {
        let given = watchers?.arrayValue ?? []
        let accounts = given.compactMap(\.stringValue)
        guard !accounts.isEmpty, accounts.count == given.count, accounts.count <= 1000 else {
            throw HTTPError.badRequest("watchers must be a non-empty array of account ids")
        }
        for account in accounts where try session.accounts.user(accountId: account) == nil {
            throw HTTPError.badRequest("No user has the account id \(account)")
        }
        return accounts
    }

    static func rerunRoutes(_ base: String) -> [Route<Session>] {
        [
            Route("POST", "/\(base)/jobs/{id}/tasks/{taskId}/retry", ItentialAPI.access(ItentialAPI.Roles.operations)) {
                request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["variables"])
                let variables = body["variables"] ?? [:]
                guard case .object = variables else { throw HTTPError.badRequest("variables must be an object") }
                return try rerun(
                    request, session, caller, from: request.parameter("taskId"), named: "taskId", .retry(variables: variables),
                    "retried the task")
            },
            Route("POST", "/\(base)/jobs/{id}/continue", ItentialAPI.access(ItentialAPI.Roles.operations)) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["fromTask"])
                return try rerun(
                    request, session, caller, from: body["fromTask"]?.stringValue ?? "", named: "fromTask", .continueFrom,
                    "continued the job")
            },
            Route("POST", "/\(base)/jobs/{id}/revert", ItentialAPI.access(ItentialAPI.Roles.operations)) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["fromTask", "toTask"])
                let from = body["fromTask"]?.stringValue ?? ""
                try requireTaskKey(from, "fromTask")
                return try rerun(
                    request, session, caller, from: body["toTask"]?.stringValue ?? "", named: "toTask", .revert(from: from),
                    "reverted the job")
            },
        ]
    }

    /// 404 naming the jobs that do not exist (the others are still changed).
    static func watch(_ ids: [String], _ accounts: [String], watching: Bool, _ session: Session) throws {
        let found = try session.itentialJobs.watch(ids: ids, accountIds: accounts, watching: watching)
        let missing = ids.filter { !found.contains($0) }
        guard missing.isEmpty else {
            let message = missing.count == 1 ? "Job \(missing[0]) not found" : "Jobs not found: \(missing.joined(separator: ", "))"
            throw HTTPError(404, message, body: ["message": .string(message), "data": .array(missing.map(JSON.string))])
        }
    }

    /// `{"jobIds": [...]}`: a non-empty list of 24-hex job ids, nothing else.
    static func jobIds(_ body: JSON) throws -> [String] {
        try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["jobIds"])
        guard let ids = body["jobIds"]?.arrayValue?.compactMap(\.stringValue), !ids.isEmpty,
            ids.count == body["jobIds"]?.arrayValue?.count, ids.allSatisfy(ItentialJobRoutes.isObjectId)
        else {
            throw HTTPError.badRequest("jobIds must be a non-empty array of 24-hex job ids")
        }
        return ids
    }

    /// A workflow task key: 1–4 lowercase hex digits (the start and end markers never rerun).
    static func requireTaskKey(_ key: String, _ name: String) throws {
        guard (1...4).contains(key.utf8.count), key.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw HTTPError.badRequest("\(name) must be a task id of 1 to 4 lowercase hexadecimal characters")
        }
    }

    static func rerun(
        _ request: Request, _ session: Session, _ caller: User, from key: String, named keyName: String, _ rerun: ItentialRerun,
        _ done: String
    ) throws -> Response {
        let id = try ItentialJobRoutes.jobId(request.parameter("id"))
        try ItentialAccess.requireAll([id], caller, session)
        try requireTaskKey(key, keyName)
        try EngineErrors.mapped { try session.itentialJobs.rerun(id: id, from: key, rerun, by: caller) }
        return ItentialAPI.envelope(
            "Successfully \(done)", ItentialJobDocument.render(try ItentialJobRoutes.job(session, id: id, for: caller)))
    }
}
