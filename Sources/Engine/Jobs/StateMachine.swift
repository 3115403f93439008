import JSON
import Postgres

/// Who made a change, as recorded in `job_events`.
public struct Actor: Sendable {
    public let userId: Int64?
    public let name: String

    package init(userId: Int64?, name: String) {
        self.userId = userId
        self.name = name
    }

    public static func user(_ user: User) -> Actor { Actor(userId: user.id, name: user.username) }
    public static func system(_ name: String) -> Actor { Actor(userId: nil, name: name) }
}

/// A job row as the state machine sees it.
public struct JobRef: Sendable, Equatable {
    public let id: Int64
    public let surface: SurfaceName
    public let publicId: String
    public let status: String
}

/// The only code that writes status columns. Every method runs inside the caller's transaction,
/// locks the row it changes, checks the move against the lifecycle, and writes the change
/// together with exactly one `job_events` row. Locks are `FOR NO KEY UPDATE`: they serialise
/// changes to a job, yet let other transactions insert history rows that reference it (a
/// `FOR UPDATE` lock blocks those foreign-key checks, and a runner starting one task of a job
/// while another finishes a second one deadlocked on it).
public struct StateMachine {
    package let connection: Connection
    /// Whose lifecycles decide which job status may follow which.
    package let surfaces: SurfaceRegistry

    public init(_ connection: Connection, surfaces: SurfaceRegistry) {
        self.connection = connection
        self.surfaces = surfaces
    }

    /// Locks a job row and returns it; nil if it does not exist.
    public func lockJob(id: Int64) throws -> JobRef? {
        try connection.execute(JobQueries.lockJob, [id]).first.flatMap(JobQueries.jobRef)
    }

    /// Locks a job by its surface id; nil if it does not exist.
    package func lockJob(_ surface: SurfaceName, publicId: String) throws -> JobRef? {
        try connection.execute(JobQueries.lockJobsByPublicId, [surface.rawValue, [publicId]]).first.flatMap(JobQueries.jobRef)
    }

    @discardableResult
    public func changeJobStatus(
        _ job: JobRef, to status: String, actor: Actor, error: String? = nil,
        detail: JSON = [:]
    ) throws -> JobRef {
        let lifecycle = try surfaces.lifecycle(for: job.surface)
        guard lifecycle.canMove(from: job.status, to: status) else {
            throw EngineError(.conflict, "Job \(job.publicId) cannot go from \(job.status) to \(status)")
        }
        let terminal = lifecycle.isTerminal(status)
        try connection.execute(JobQueries.setJobStatus, [job.id, status, terminal, error])
        try record(job, event: .jobStatusChanged, actor: actor, from: job.status, to: status, detail: detail)
        return JobRef(id: job.id, surface: job.surface, publicId: job.publicId, status: status)
    }

    /// Moves a task; the task row is locked, and its job must already be locked by the caller.
    public func changeTaskStatus(
        _ job: JobRef, taskId: Int64, to status: TaskStatus, actor: Actor,
        event: JobEventKind = .taskStatusChanged, detail: JSON = [:]
    ) throws {
        guard let row = try connection.execute(JobQueries.lockTask, [taskId, job.id]).first,
            let current = TaskStatus(rawValue: row.string(1))
        else {
            throw EngineError(.notFound, "Task \(taskId) not found in job \(job.publicId)")
        }
        guard current.canMove(to: status) else {
            throw EngineError(.conflict, "Task \(row.string(0)) cannot go from \(current.rawValue) to \(status.rawValue)")
        }
        try connection.execute(JobQueries.setTaskStatus, [taskId, status.rawValue])
        try record(
            job, taskId: taskId, taskKey: row.string(0), event: event, actor: actor,
            from: current.rawValue, to: status.rawValue, detail: detail)
        if status == .ready { try connection.execute(JobQueries.notifyRunners) }
    }

    /// Appends one history row.
    public func record(
        _ job: JobRef, taskId: Int64? = nil, taskKey: String? = nil, event: JobEventKind, actor: Actor,
        from: String? = nil, to: String? = nil, detail: JSON = [:]
    ) throws {
        try JobEvents.record(
            [JobEvent(jobId: job.id, taskId: taskId, taskKey: taskKey, event, actor: actor, from: from, to: to, detail: detail)],
            on: connection)
    }
}

// MARK: Flow decisions and the runner's lease

/// A task a runner holds a lease on.
public struct LeasedTask: Sendable {
    public let id: Int64
    public let jobId: Int64
    public let key: String
    public let kind: String
    public let input: JSON
    public let attempt: Int
    /// Set when the previous runner's lease had expired.
    public let takenOverFrom: String?
    public let iteration: String?
    /// How many iterations it had before this one.
    public let pastIterations: Int
    /// It had waited: for its child jobs, or until a time.
    public let waitedForChildren: Bool
    public let woken: Bool
}

extension StateMachine {
    /// Applies what a job's flow decided, under the job lock the caller holds.
    package func apply(_ decisions: [FlowDecision], to job: JobRef, actor: Actor) throws {
        // A finished job takes no more decisions (a task of a canceled job that ends late).
        guard try !surfaces.lifecycle(for: job.surface).isTerminal(job.status) else { return }
        for decision in decisions {
            switch decision {
            case let .makeReady(taskId):
                try changeTaskStatus(job, taskId: taskId, to: .ready, actor: actor, event: .taskReady)
            case let .reset(taskId):
                try changeTaskStatus(job, taskId: taskId, to: .pending, actor: actor, event: .taskReset)
            case let .skip(taskId):
                try changeTaskStatus(job, taskId: taskId, to: .skipped, actor: actor, detail: ["reason": "dead path"])
            case let .complete(taskId, finishState):
                try connection.execute(JobQueries.setFinishState, [taskId, finishState])
                try changeTaskStatus(
                    job, taskId: taskId, to: .succeeded, actor: actor, event: .taskFinished,
                    detail: ["finish_state": .string(finishState)])
            case let .finishJob(status, error):
                // A job that already stalled stays so when a parallel branch ends later.
                if status == job.status { continue }
                let detail: JSON = error.map { ["error": .string($0)] } ?? [:]
                try changeJobStatus(job, to: status, actor: actor, error: error, detail: detail)
            }
        }
    }

    package func taskSnapshots(jobId: Int64) throws -> [TaskSnapshot] {
        try connection.execute(JobQueries.taskSnapshots, [jobId]).rows.compactMap { row in
            guard let id = row.int64(0), let status = TaskStatus(rawValue: row.string(3)) else { return nil }
            return TaskSnapshot(
                id: id, key: row.string(1), position: row.int(2) ?? 0, status: status, automatic: row.bool(4),
                finishState: row[5])
        }
    }

    /// Leases the next runnable task of the given kinds and records that it started.
    func leaseNextTask(kinds: [String], owner: String, leaseSeconds: Int, runsPerOwner: Int? = nil) throws -> LeasedTask? {
        let stalled = surfaces.stalled
        guard
            let row = try connection.execute(
                JobQueries.leaseTask,
                [
                    kinds, owner, leaseSeconds, runsPerOwner,
                    stalled.surfaces, stalled.statuses,
                ]
            ).first,
            let id = row.int64(0), let jobId = row.int64(1)
        else { return nil }
        let leased = LeasedTask(
            id: id, jobId: jobId, key: row.string(2), kind: row.string(3),
            input: try row.optionalJSON(4) ?? .null, attempt: row.int(5) ?? 1,
            takenOverFrom: row.string(6) == "running" ? row[7] : nil, iteration: row[9], pastIterations: row.int(10) ?? 0,
            waitedForChildren: row.string(6) == TaskStatus.waiting.rawValue, woken: row.bool(8))
        guard let job = try connection.execute(JobQueries.jobOfTask, [jobId]).first.flatMap(JobQueries.jobRef) else { return nil }
        var detail: [(String, JSON)] = [("attempt", .number(leased.attempt)), ("runner", .string(owner))]
        if let previous = leased.takenOverFrom { detail.append(("taken_over_from", .string(previous))) }
        try record(
            job, taskId: id, taskKey: leased.key, event: .taskStarted, actor: .system(owner),
            from: row.string(6), to: TaskStatus.running.rawValue, detail: .object(detail))
        return leased
    }

    /// Records a leased task's outcome and moves its job on. Returns false, writing nothing,
    /// when the lease was lost (it expired and another runner took the task over).
    func finishLeasedTask(_ task: LeasedTask, owner: String, outcome: TaskOutcome, surfaces: SurfaceRegistry) throws -> Bool {
        guard let job = try lockJob(id: task.jobId) else { return false }
        let (status, output, error, files, finishState, variables): (TaskStatus, JSON?, String?, [NamedFile], String, JSON?)
        switch outcome {
        case let .succeeded(result, produced, state, setVariables):
            (status, output, error, files, finishState, variables) = (.succeeded, result, nil, produced, state ?? "success", setVariables)
        case let .failed(message):
            (status, output, error, files, finishState, variables) = (.failed, nil, message, [], "error", nil)
        case let .spawned(children):
            return try park(task, of: job, owner: owner, as: .waiting, seconds: 0) {
                for child in children {
                    _ = try Jobs.insert(
                        child, parent: Jobs.Parent(jobId: job.id, taskId: task.id),
                        actor: .system(owner), on: connection, surfaces: surfaces)
                }
            }
        case let .sleeping(seconds):
            return try park(task, of: job, owner: owner, as: .ready, seconds: seconds) {}
        }
        let updated = try connection.execute(
            JobQueries.finishLeasedTask,
            [task.id, owner, task.attempt, status.rawValue, output?.serialized, error, finishState])
        guard !updated.isEmpty else { return false }
        if let variables { try connection.execute(JobQueries.mergeJobVariables, [job.id, variables.serialized]) }
        for file in files {
            try connection.execute(FileQueries.insertJobFile, [job.surface.rawValue, file.name, job.id, Bytea.text(file.content)])
        }
        try record(
            job, taskId: task.id, taskKey: task.key, event: status == .succeeded ? .taskFinished : .taskFailed,
            actor: .system(owner), from: TaskStatus.running.rawValue, to: status.rawValue,
            detail: error.map { ["error": .string($0)] } ?? [:])
        try moveOn(job, after: task.id, error: error, surfaces: surfaces, actor: .system(owner))
        return true
    }

    /// Hands the job's flow its tasks and document after task `taskId` finished, and applies
    /// what it decides.
    package func moveOn(_ job: JobRef, after taskId: Int64, error: String?, surfaces: SurfaceRegistry, actor: Actor) throws {
        let tasks = try taskSnapshots(jobId: job.id)
        guard let finished = tasks.first(where: { $0.id == taskId }) else { return }
        try apply(
            try surfaces.flow(for: job.surface).after(finished, error: error, tasks: tasks, job: try document(of: job)), to: job,
            actor: actor)
    }

    /// The job's stored document (its flow reads the definition snapshot in it).
    package func document(of job: JobRef) throws -> JSON {
        try connection.execute(JobQueries.jobDocument, [job.id]).first.map { try $0.json(0) } ?? [:]
    }
}

extension StateMachine {
    /// A leased task that waits (for its children, or for a time) without finishing; false
    /// when the lease was lost.
    private func park(
        _ task: LeasedTask, of job: JobRef, owner: String, as status: TaskStatus, seconds: Double,
        then: () throws -> Void
    ) throws -> Bool {
        guard try !connection.execute(JobQueries.parkLeasedTask, [task.id, owner, task.attempt, status.rawValue, seconds]).isEmpty else {
            return false
        }
        let detail: JSON = status == .ready ? ["wake_in_seconds": .number(seconds)] : [:]
        try record(
            job, taskId: task.id, taskKey: task.key, event: .taskStatusChanged, actor: .system(owner),
            from: TaskStatus.running.rawValue, to: status.rawValue, detail: detail)
        try then()
        return true
    }
}
