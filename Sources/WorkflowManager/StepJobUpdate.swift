import Engine
import JSON
import Postgres

/// A job's own properties as an update sends them; nil leaves a property as it is.
public struct StepJobChanges: Sendable {
    public var jobName: String?
    public var ownedBy: String?
    /// Document properties by name (description, notes, priority, jobStatus, startDate, dueDate,
    /// percentComplete, parentJob, extendedProperties), dates already formatted.
    public var properties: [(String, JSON)] = []
    /// A running step that does not stop the update (otherwise a running job is refused).
    public var allowRunningStepId: String?

    public init() {}

    /// The privilege that changing each property needs.
    public static let privileges: [String: String] = [
        "jobName": "jobUpdateName", "ownedBy": "jobUpdateOwner", "description": "jobUpdateDescription", "notes": "jobUpdateNotes",
        "priority": "jobUpdatePriority", "jobStatus": "jobUpdateStatus", "startDate": "jobUpdateDate", "dueDate": "jobUpdateDate",
        "percentComplete": "jobUpdatePercentComplete", "parentJob": "jobUpdateParentJob",
        "extendedProperties": "jobUpdateExtendedProperties",
    ]
}

extension StepJobs {
    /// Applies the properties that differ from the job's, each only with its privilege: clients
    /// send the whole job back, so an unchanged property needs none. A closed job, or one with a
    /// running step other than `allowRunningStepId`, is refused. Returns the names changed, or nil
    /// when the job does not exist.
    public func update(item: Int64, jobId: String, _ changes: StepJobChanges, by caller: StepCaller) throws -> [String]? {
        try connection.transaction { tx in
            guard try tx.first(StepQueries.lockJob, item, jobId) != nil, let job = try tx.first(StepQueries.readJob, item, jobId) else {
                return nil
            }
            var changed: [String] = []
            if let name = changes.jobName, name != job.name { changed.append("jobName") }
            if let owner = changes.ownedBy, owner != job.ownedBy { changed.append("ownedBy") }
            let document = changes.properties.filter { job.document[$0.0] != $0.1 }
            changed += document.map(\.0)
            guard !changed.isEmpty else { return [] }
            if let missing = changed.compactMap({ StepJobChanges.privileges[$0] }).first(where: { !caller.has($0) }) {
                throw EngineError(.forbidden, "The \(missing) privilege is required")
            }
            guard !job.isClosed else { throw EngineError(.invalid, "The job is closed") }
            if let running = job.steps.first(where: \.isExecuting), running.key != changes.allowRunningStepId {
                throw EngineError(.invalid, "The job is running step \(running.key)")
            }
            if changed.contains("ownedBy") {
                try checkAssignees(assignment: .unassigned, owner: changes.ownedBy, on: tx)
            }
            try tx.run(
                Self.updateJob, job.id, changed.contains("jobName") ? changes.jobName : nil,
                changed.contains("ownedBy") ? changes.ownedBy : nil, JSON.object(document).serialized, caller.userId, caller.username,
                JSON.object([("action", "Updated"), ("fields", .array(changed.map(JSON.string)))]).serialized)
            return changed
        }
    }

    static let updateJob = Query(
        "wm_job_update",
        """
        WITH updated AS (
            UPDATE jobs SET name = coalesce($2, name),
                            owner_id = coalesce((SELECT id FROM users WHERE username = $3), owner_id),
                            document = document || $4::jsonb
            WHERE id = $1 RETURNING id)
        SELECT record_job_events(jsonb_build_array(jsonb_build_object(
            'job_id', id, 'event', 'job_updated', 'actor_id', $5::bigint, 'actor', $6::text, 'detail', $7::jsonb)))
        FROM updated
        """, binding: Int64.self, String?.self, String?.self, String.self, Int64?.self, String.self, String.self)
}
