import JSON
import Postgres

/// What happened, as `job_events.event` spells it (the table's CHECK lists the same words).
public enum JobEventKind: String, CaseIterable, Sendable {
    case jobCreated = "job_created"
    case jobStatusChanged = "job_status_changed"
    case jobClaimed = "job_claimed"
    case jobReleased = "job_released"
    case jobAssigned = "job_assigned"
    case jobDeleted = "job_deleted"
    /// Properties of the job's own changed (Workflow Manager's update); the fields in `detail`.
    case jobUpdated = "job_updated"
    /// Written until migration 0016; older history has it (a job's tasks now come with its
    /// `job_created`).
    case taskCreated = "task_created"
    case taskReady = "task_ready"
    case taskStarted = "task_started"
    case taskFinished = "task_finished"
    case taskFailed = "task_failed"
    case taskStatusChanged = "task_status_changed"
    case taskClaimed = "task_claimed"
    case taskReleased = "task_released"
    case taskAssigned = "task_assigned"
    case taskDeactivated = "task_deactivated"
    case taskReset = "task_reset"
    case holdAdded = "hold_added"
    case holdReleased = "hold_released"
}

/// One history row to append. The job's surface and public id are read from its row, so
/// history cannot disagree with the job; a task given by key alone is found by it.
public struct JobEvent: Sendable {
    public let jobId: Int64
    public let taskId: Int64?
    public let taskKey: String?
    public let kind: JobEventKind
    public let actor: Actor
    public let from: String?
    public let to: String?
    public let detail: JSON

    public init(
        jobId: Int64, taskId: Int64? = nil, taskKey: String? = nil, _ kind: JobEventKind, actor: Actor, from: String? = nil,
        to: String? = nil, detail: JSON = [:]
    ) {
        self.jobId = jobId
        self.taskId = taskId
        self.taskKey = taskKey
        self.kind = kind
        self.actor = actor
        self.from = from
        self.to = to
        self.detail = detail
    }

    /// The shape `record_job_events` reads.
    package var json: JSON {
        func optional<T>(_ value: T?, _ wrap: (T) -> JSON) -> JSON { value.map(wrap) ?? .null }
        return [
            "job_id": .number(Double(jobId)), "task_id": optional(taskId) { .number(Double($0)) },
            "task_key": optional(taskKey, JSON.string), "event": .string(kind.rawValue),
            "actor_id": optional(actor.userId) { .number(Double($0)) }, "actor": .string(actor.name),
            "from_status": optional(from, JSON.string), "to_status": optional(to, JSON.string), "detail": detail,
        ]
    }
}

/// Appends history through `record_job_events` (migration 0014), the one writer of
/// `job_events`: statements that change state in one round trip call it from their CTE.
public enum JobEvents: StatementCatalog {
    /// $1: the events as a JSON array, inserted in its order (ids follow it).
    package static let insert = Query("job_events_record", "SELECT record_job_events($1::jsonb)", binding: String.self)

    package static let statements = [insert.statement]

    /// Appends the events in order, inside the caller's transaction.
    public static func record(_ events: [JobEvent], on connection: Connection) throws {
        guard !events.isEmpty else { return }
        try connection.run(insert, JSON.array(events.map(\.json)).serialized)
    }
}
