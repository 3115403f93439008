import JSON
import Postgres

public struct NewTask: Sendable, Equatable {
    public let key: String
    public let position: Int
    public let kind: String
    public let automatic: Bool
    public let input: JSON

    public init(key: String, position: Int, kind: String, automatic: Bool, input: JSON) {
        self.key = key
        self.position = position
        self.kind = kind
        self.automatic = automatic
        self.input = input
    }
}

public struct NewJob: Sendable, Equatable {
    public var surface: SurfaceName
    /// nil: the engine makes one, as the surface's rules say (`SurfaceRules.publicIdSequence`).
    public var publicId: String?
    public var name: String
    public var status: String
    public var owner: User?
    public var jobTypeId: Int64?
    /// The definition the job was spawned from, stored in `workflows` as sent.
    public var workflow: JSON?
    /// Or the stored definition it was spawned from (the job keeps its own snapshot).
    public var workflowId: Int64?
    public var document: JSON
    public var tasks: [NewTask]

    public init(
        surface: SurfaceName, publicId: String? = nil, name: String = "", status: String, owner: User?,
        jobTypeId: Int64? = nil, workflow: JSON? = nil, document: JSON = [:], tasks: [NewTask]
    ) {
        self.jobTypeId = jobTypeId
        self.surface = surface
        self.publicId = publicId
        self.name = name
        self.status = status
        self.owner = owner
        self.workflow = workflow
        self.document = document
        self.tasks = tasks
    }
}

/// A job with its tasks, as surfaces read it to build their documents.
public struct JobRecord: Sendable {
    public let ref: JobRef
    public let name: String
    public let ownerId: Int64?
    /// Seconds since the epoch.
    public let createdAt: Double
    public let startedAt: Double?
    public let finishedAt: Double?
    public let errorMessage: String?
    public let workflow: JSON?
    public let document: JSON
    public let tasks: [TaskRecord]
}

public struct TaskRecord: Sendable {
    public let id: Int64
    public let key: String
    public let position: Int
    public let kind: String
    public let status: TaskStatus
    public let input: JSON
    public let output: JSON?
    public let error: String?
}

/// Creating and reading jobs. Status changes go through `StateMachine`.
public struct Jobs {
    let connection: Connection
    package let surfaces: SurfaceRegistry

    /// Creates the job, its workflow row and its tasks, and starts it per its surface's flow,
    /// all in one transaction.
    public func create(_ new: NewJob, actor: Actor) throws -> JobRef {
        try connection.transaction { tx in try Jobs.insert(new, parent: nil, actor: actor, on: tx, surfaces: surfaces) }
    }

    /// The task (and its job) a child job was spawned by. Children keep their spawn order in
    /// their ids.
    package struct Parent {
        let jobId: Int64
        let taskId: Int64
    }

    /// Creates and starts a job inside the caller's transaction.
    package static func insert(_ new: NewJob, parent: Parent?, actor: Actor, on tx: Connection, surfaces: SurfaceRegistry) throws -> JobRef
    {
        guard try surfaces.lifecycle(for: new.surface).isKnown(new.status) else {
            throw EngineError(.invalid, "\(new.status) is not a \(new.surface.rawValue) job status")
        }
        let flow = try surfaces.flow(for: new.surface)
        let machine = StateMachine(tx, surfaces: surfaces)
        var workflowId = new.workflowId
        if let workflow = new.workflow {
            workflowId = try tx.first(JobQueries.insertWorkflow, new.surface.rawValue, nil, new.name, workflow.serialized, new.owner?.id)
        }
        guard
            let job = try tx.first(
                JobQueries.insertJob, new.surface.rawValue, try surfaces.publicIdSequence(for: new.surface), new.publicId, workflowId,
                new.jobTypeId, parent?.jobId, new.name, new.status, new.owner?.id, 0, new.document.serialized, parent?.taskId)
        else {
            throw EngineError(.conflict, "Job could not be created")
        }
        let tasks = JSON.array(
            new.tasks.map { task in
                [
                    "key": .string(task.key), "position": .number(task.position), "kind": .string(task.kind),
                    "automatic": .bool(task.automatic), "input": task.input,
                ]
            })
        // In the order `taskSnapshots` reads them.
        let snapshots = try tx.rows(JobQueries.insertTasks, job.id, tasks.serialized).sorted { ($0.position, $0.id) < ($1.position, $1.id) }
        try machine.recordingTogether { machine in
            // One event: the tasks are created with their job, and their rows say so.
            try machine.record(job, event: .jobCreated, actor: actor, to: job.status)
            try machine.apply(flow.start(snapshots, job: new.document), to: job, actor: actor)
        }
        return job
    }

    /// A job by its surface id, with its tasks in position order.
    public func find(surface: SurfaceName, publicId: String) throws -> JobRecord? {
        guard let job = try connection.first(Self.jobRecord, surface.rawValue, publicId) else { return nil }
        return job.with(tasks: try connection.rows(Self.taskRecords, job.ref.id))
    }

    /// An owner's jobs of one surface, newest first, without tasks.
    public func list(surface: SurfaceName, ownerId: Int64) throws -> [JobRecord] {
        try connection.rows(Self.ownerJobs, surface.rawValue, ownerId)
    }

    static let jobColumns = """
        j.id, j.surface, j.public_id, j.status, j.name, j.owner_id, extract(epoch FROM j.created_at) AS created_at,
        extract(epoch FROM j.started_at) AS started_at, extract(epoch FROM j.finished_at) AS finished_at, j.error_message
        """

    static let jobRecord = Query(
        "job_record",
        """
        SELECT \(jobColumns), w.document AS workflow, j.document
        FROM jobs j LEFT JOIN workflows w ON w.id = j.workflow_id
        WHERE j.surface = $1 AND j.public_id = $2
        """, binding: String.self, String.self
    ) { try JobRecord(row: $0, documents: true) }

    static let taskRecords = Query(
        "job_task_records",
        """
        SELECT id, key, position, kind, status, input, output, error FROM tasks WHERE job_id = $1 ORDER BY position, id
        """, binding: Int64.self
    ) { row in
        TaskRecord(
            id: try row.value("id"), key: try row.value("key"), position: try row.value("position"), kind: try row.value("kind"),
            status: try row.value("status"), input: try row.optionalJSON("input") ?? .null, output: try row.optionalJSON("output"),
            error: try row.optional("error"))
    }

    static let ownerJobs = Query(
        "job_owner_list",
        """
        SELECT \(jobColumns) FROM jobs j WHERE j.surface = $1 AND j.owner_id = $2 ORDER BY j.id DESC
        """, binding: String.self, Int64.self
    ) { try JobRecord(row: $0, documents: false) }
}

extension JobRecord {
    /// From `jobColumns`, and the `workflow` and `document` columns if `documents`.
    init(row: Row, documents: Bool) throws {
        self.init(
            ref: try JobRef(row: row), name: try row.value("name"), ownerId: try row.optional("owner_id"),
            createdAt: try row.value("created_at"), startedAt: try row.optional("started_at"), finishedAt: try row.optional("finished_at"),
            errorMessage: try row.optional("error_message"), workflow: documents ? try row.optionalJSON("workflow") : nil,
            document: documents ? try row.json("document") : [:], tasks: [])
    }

    func with(tasks: [TaskRecord]) -> JobRecord {
        JobRecord(
            ref: ref, name: name, ownerId: ownerId, createdAt: createdAt, startedAt: startedAt, finishedAt: finishedAt,
            errorMessage: errorMessage, workflow: workflow, document: document, tasks: tasks)
    }
}

extension Jobs: StatementCatalog {
    package static var statements: [Statement] { [jobRecord.statement, taskRecords.statement, ownerJobs.statement] }
}
