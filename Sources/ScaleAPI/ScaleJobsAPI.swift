import Engine
import Foundation
import HTTP
import JSON
import Scale

/// `/v6/jobs/…` (queue, list, details, cancel, requeue; the executor's claim and status
/// reports) and the job-type counting routes over the same rows.
struct ScaleJobsAPI: Sendable {
    static let statuses = ["PENDING", "BLOCKED", "QUEUED", "RUNNING", "FAILED", "COMPLETED", "CANCELED"]

    func queue(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let body = try ScaleAPI.objectBody(request)
        try ScaleAPI.refuseUnknownFields(body, allowed: ["job_type_id", "input"])
        guard let jobTypeId = body["job_type_id"]?.intValue else {
            throw HTTPError.badRequest("Parameter must be a valid integer: \"job_type_id\"")
        }
        let input = body["input"] ?? [:]
        guard case .object = input else { throw HTTPError.badRequest("Parameter must be a valid JSON object: \"input\"") }
        let id = try ScaleEngineCall.run { try session.scaleJobs.queue(jobTypeId: Int64(jobTypeId), input: input, by: user) }
        let job = try found(try session.scaleJobs.find(id: id))
        var response = Response.json(Self.render(job), status: 201)
        response.headers.append(("Location", "\(request.origin)/v6/jobs/\(id)/"))
        return response
    }

    func list(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        var filter = ScaleJobFilter()
        filter.statuses = try request.queryValues("status").map { status in
            guard Self.statuses.contains(status) else { throw HTTPError.badRequest("Invalid status \"\(status)\"") }
            return status
        }
        filter.jobTypeIds = try request.queryValues("job_type_id").map { value in
            guard let id = Int64(value) else { throw HTTPError.badRequest("Parameter must be a valid integer: \"job_type_id\"") }
            return id
        }
        filter.jobTypeNames = request.queryValues("job_type_name")
        filter.started = try Self.time(request, "started")
        filter.ended = try Self.time(request, "ended")
        return try Pagination(request).page(
            request, fetch: { try session.scaleJobs.list(filter, limit: $0, offset: $1) },
            render: Self.render)
    }

    func details(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        return .json(Self.render(try found(try Int(request.parameter("id")).flatMap { try session.scaleJobs.find(id: $0) })))
    }

    func cancel(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        try move(request, session, by: user, to: "CANCELED")
    }

    func requeue(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        try move(request, session, by: user, to: "QUEUED", from: ["FAILED", "CANCELED"])
    }

    /// A worker reports RUNNING, then COMPLETED or FAILED with an error name.
    func report(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let body = try ScaleAPI.objectBody(request)
        try ScaleAPI.refuseUnknownFields(body, allowed: ["status", "error"])
        guard let status = body["status"]?.stringValue, ["RUNNING", "COMPLETED", "FAILED"].contains(status) else {
            throw HTTPError.badRequest("status must be RUNNING, COMPLETED or FAILED")
        }
        return try move(request, session, by: user, to: status, errorName: body["error"]?.stringValue)
    }

    private func move(
        _ request: Request, _ session: Session, by user: User, to status: String, from: Set<String>? = nil, errorName: String? = nil
    ) throws -> Response {
        guard let id = Int(request.parameter("id")) else { throw ScaleAPI.notFound }
        return .json(
            Self.render(
                try ScaleEngineCall.run {
                    try session.scaleJobs.move(id: id, to: status, from: from, errorName: errorName, actor: .user(user))
                }))
    }

    /// The oldest runnable queued job, now RUNNING; 204 when there is none.
    func claim(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        guard let job = try session.scaleJobs.claim(by: user.username) else { return Response(status: 204) }
        return .json(Self.render(job))
    }

    // MARK: Counting routes (spec §3.10, §5)

    func status(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        let active = try ScaleQuery.boolean(request, "is_active")
        let started = try Self.time(request, "started") ?? "PT3H0M0S"
        let ended = try Self.time(request, "ended")
        return try Pagination(request).page(
            request,
            fetch: { limit, offset in
                try ScaleEngineCall.run {
                    try session.scaleCounts.status(isActive: active, started: started, ended: ended, limit: limit, offset: offset)
                }
            },
            render: { jobType, counts in
                [
                    "job_type": .object(ScaleRender.base(jobType)),
                    "job_counts": .array(
                        counts.map { count in
                            [
                                "status": .string(count.status), "count": .number(count.count), "most_recent": .string(count.mostRecent),
                                "category": .string(count.category),
                            ]
                        }),
                ]
            })
    }

    func pending(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        try waiting(request, session, "PENDING", "longest_pending")
    }

    func running(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        try waiting(request, session, "RUNNING", "longest_running")
    }

    private func waiting(_ request: Request, _ session: Session, _ status: String, _ key: String) throws -> Response {
        return try Pagination(request).page(
            request, fetch: { try session.scaleCounts.waiting(in: status, limit: $0, offset: $1) },
            render: { jobType, count, oldest in
                .object([("job_type", .object(ScaleRender.base(jobType))), ("count", .number(count)), (key, .string(oldest))])
            })
    }

    func systemFailures(_ request: Request, _ session: Session, _ caller: User) throws -> Response {
        return try Pagination(request).page(
            request, fetch: { try session.scaleCounts.systemFailures(limit: $0, offset: $1) },
            render: { jobType, error, count, first, last in
                [
                    "job_type": .object(ScaleRender.base(jobType)), "error": ScaleRender.error(error), "count": .number(count),
                    "first_error": .string(first), "last_error": .string(last),
                ]
            })
    }

    // MARK: Helpers

    private func found(_ job: ScaleJobRecord?) throws -> ScaleJobRecord {
        guard let job else { throw ScaleAPI.notFound }
        return job
    }

    /// An ISO-8601 time with an explicit offset, or a `P[nD][T[nH][nM][nS]]` duration before now.
    static func time(_ request: Request, _ name: String) throws -> String? {
        guard let value = request.queryValues(name).last else { return nil }
        // At most 6 digits per duration field (2,700 years of days) and offsets within ±15:59,
        // PostgreSQL's bounds: anything larger is a client error, not an overflow.
        let duration = #"^P(?=\d|T\d)(\d{1,6}(\.\d+)?D)?(T(?=\d)(\d{1,7}(\.\d+)?H)?(\d{1,9}(\.\d+)?M)?(\d{1,10}(\.\d+)?S)?)?$"#
        let datetime = #"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-](0\d|1[0-5])(:?[0-5]\d)?)$"#
        guard value.range(of: duration, options: .regularExpression) != nil || value.range(of: datetime, options: .regularExpression) != nil
        else {
            throw HTTPError.badRequest("Invalid ISO timestamp format for parameter: \(name)")
        }
        return value
    }

    static func render(_ job: ScaleJobRecord) -> JSON {
        [
            "id": .number(job.id), "job_type": .object(ScaleRender.base(job.jobType)), "status": .string(job.status),
            "error": job.error.map(ScaleRender.error) ?? .null, "input": job.input, "created": .string(job.created),
            "queued": .string(job.queued), "started": .string(job.started), "ended": .string(job.ended),
            "last_status_change": .string(job.lastStatusChange),
        ]
    }
}
