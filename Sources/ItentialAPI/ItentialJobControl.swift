import Engine
import HTTP
import JSON

/// Pause, resume and cancel (bulk and legacy), and watching jobs.
enum ItentialJobControl {
    /// Which statuses each action applies to (spec §2.10).
    static let actions: [(name: String, past: String, action: JobControlAction, from: Set<String>, legacy: String)] = [
        ("pause", "paused", .pause, ["running"], "pauseJob"),
        ("resume", "resumed", .resume, ["paused"], "resumeJob"),
        ("cancel", "canceled", .cancel, ["running", "paused", "error"], "cancelJob"),
    ]

    static let routes: [Route<Session>] = actions.flatMap { entry in
        ["operations-manager", "operations_manager"].map { base in
            Route("POST", "/\(base)/jobs/\(entry.name)") { request, session in
                let caller = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.write)
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["jobIds"])
                guard let ids = body["jobIds"]?.arrayValue?.compactMap(\.stringValue), !ids.isEmpty,
                      ids.count == body["jobIds"]?.arrayValue?.count, ids.allSatisfy(ItentialJobRoutes.isObjectId) else {
                    throw HTTPError.badRequest("jobIds must be a non-empty array of 24-hex job ids")
                }
                let refusals = try session.jobs.control(entry.action, surface: .itential, publicIds: ids, actor: .user(caller),
                                                        allowedFrom: entry.from)
                guard refusals.isEmpty else {
                    let message = "Failed to \(entry.name) all jobs"
                    throw HTTPError(409, message, body: ["message": .string(message), "data": .object(refusals.map { ($0.0, .string($0.1)) })])
                }
                return ItentialAPI.envelope("Successfully \(entry.past) all jobs", .array(ids.map(JSON.string)))
            }
        } + [
            Route("POST", "/workflow_engine/\(entry.legacy)") { request, session in
                let caller = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.write)
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["job_id"])
                guard let id = body["job_id"]?.stringValue, ItentialJobRoutes.isObjectId(id) else {
                    throw HTTPError.badRequest("job_id must be 24 lowercase hexadecimal characters")
                }
                let refusals = try session.jobs.control(entry.action, surface: .itential, publicIds: [id], actor: .user(caller),
                                                        allowedFrom: entry.from)
                if let refusal = refusals.first {
                    throw refusal.1.hasSuffix("does not exist") ? HTTPError.notFound(refusal.1) : HTTPError.conflict(refusal.1)
                }
                return .json(ItentialJobDocument.render(try ItentialJobRoutes.job(request, session, id: id), .legacy))
            },
        ]
    } + ["watch", "unwatch"].map { verb in
        Route("POST", "/operations-manager/jobs/{id}/\(verb)") { request, session in
            let caller = try ItentialAPI.caller(request, session, roles: ItentialAPI.Roles.read)
            let id = request.parameter("id")
            guard ItentialJobRoutes.isObjectId(id) else { throw HTTPError.badRequest("Job id \(id) must be 24 lowercase hexadecimal characters") }
            guard try session.itentialJobs.watch(id: id, accountId: caller.accountId, watching: verb == "watch") else {
                throw HTTPError.notFound("Job \(id) not found")
            }
            return ItentialAPI.envelope("Successfully \(verb)ed the job", ItentialJobDocument.render(try ItentialJobRoutes.job(request, session, id: id)))
        }
    }
}
