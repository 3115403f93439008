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
    /// History rows held back to be recorded together (`recordingTogether`); nil: each at once.
    private let held: HeldEvents?

    public init(_ connection: Connection, surfaces: SurfaceRegistry) {
        self.init(connection, surfaces, held: nil)
    }

    private init(_ connection: Connection, _ surfaces: SurfaceRegistry, held: HeldEvents?) {
        self.connection = connection
        self.surfaces = surfaces
        self.held = held
    }

    /// Runs `body` on a machine that holds back the history rows its changes write and records
    /// them, in order, in one call at the end: a start or a finished task that moves several
    /// tasks on costs one round trip of history, not one per row. Inside another such call it
    /// joins that one.
    package func recordingTogether<T>(_ body: (StateMachine) throws -> T) throws -> T {
        if held != nil { return try body(self) }
        let held = HeldEvents()
        let result = try body(StateMachine(connection, surfaces, held: held))
        if !held.events.isEmpty { try JobEvents.record(held.events, on: connection) }
        return result
    }

    /// Locks a job row and returns it; nil if it does not exist.
    public func lockJob(id: Int64) throws -> JobRef? {
        try connection.first(JobQueries.lockJob, id)
    }

    /// Locks a job by its surface id; nil if it does not exist.
    package func lockJob(_ surface: SurfaceName, publicId: String) throws -> JobRef? {
        try connection.first(JobQueries.lockJobsByPublicId, surface.rawValue, [publicId])
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
        try connection.run(JobQueries.setJobStatus, job.id, status, terminal, error)
        try record(job, event: .jobStatusChanged, actor: actor, from: job.status, to: status, detail: detail)
        return JobRef(id: job.id, surface: job.surface, publicId: job.publicId, status: status)
    }

    /// Moves a task; the task row is locked, and its job must already be locked by the caller.
    /// `event` nil writes no history row: only for a move another event of the same
    /// transaction already records.
    public func changeTaskStatus(
        _ job: JobRef, taskId: Int64, to status: TaskStatus, actor: Actor,
        event: JobEventKind? = .taskStatusChanged, detail: JSON = [:]
    ) throws {
        guard let (key, current, automatic) = try connection.first(JobQueries.lockTask, taskId, job.id) else {
            throw EngineError(.notFound, "Task \(taskId) not found in job \(job.publicId)")
        }
        guard current.canMove(to: status) else {
            throw EngineError(.conflict, "Task \(key) cannot go from \(current.rawValue) to \(status.rawValue)")
        }
        try connection.run(JobQueries.setTaskStatus, taskId, status)
        if let event {
            try record(
                job, taskId: taskId, taskKey: key, event: event, actor: actor, from: current.rawValue, to: status.rawValue,
                detail: detail)
        }
        // Runners lease only automatic tasks; a manual one that becomes ready waits for a person.
        if status == .ready && automatic { try connection.run(JobQueries.notifyRunners) }
    }

    /// Appends one history row (or holds it back, see `recordingTogether`).
    public func record(
        _ job: JobRef, taskId: Int64? = nil, taskKey: String? = nil, event: JobEventKind, actor: Actor,
        from: String? = nil, to: String? = nil, detail: JSON = [:]
    ) throws {
        let row = JobEvent(jobId: job.id, taskId: taskId, taskKey: taskKey, event, actor: actor, from: from, to: to, detail: detail)
        if let held { held.events.append(row) } else { try JobEvents.record([row], on: connection) }
    }
}

/// The history rows of one `recordingTogether` call, in the order they were written.
private final class HeldEvents {
    var events: [JobEvent] = []
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
    /// How long before this lease the previous one had lapsed (a takeover's delay).
    public let leaseLapsedSeconds: Double?
    public let iteration: String?
    /// How many iterations it had before this one.
    public let pastIterations: Int
    /// It had waited: for its child jobs, or until a time.
    public let waitedForChildren: Bool
    public let woken: Bool
    /// Its status before this lease: `ready`, `running` (taken over) or `waiting`.
    public let previousStatus: String
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
                // A marker does no work: its row keeps when and how it finished, and the job's own
                // event of the same transaction (its start, or its end) records the moment.
                try connection.run(JobQueries.setFinishState, taskId, finishState)
                try changeTaskStatus(job, taskId: taskId, to: .succeeded, actor: actor, event: nil)
            case let .finishJob(status, error):
                // A job that already stalled stays so when a parallel branch ends later.
                if status == job.status { continue }
                let detail: JSON = error.map { ["error": .string($0)] } ?? [:]
                try changeJobStatus(job, to: status, actor: actor, error: error, detail: detail)
            }
        }
    }

    package func taskSnapshots(jobId: Int64) throws -> [TaskSnapshot] {
        try connection.rows(JobQueries.taskSnapshots, jobId)
    }

    /// Leases the next runnable task of the given kinds and records that it started.
    func leaseNextTask(kinds: [String], owner: String, leaseSeconds: Int, runsPerOwner: Int? = nil) throws -> LeasedTask? {
        let stalled = surfaces.stalled
        guard
            let leased = try connection.first(
                JobQueries.leaseTask, kinds, owner, leaseSeconds, runsPerOwner, stalled.surfaces, stalled.statuses),
            let job = try connection.first(JobQueries.jobOfTask, leased.jobId)?.job
        else { return nil }
        var detail: [(String, JSON)] = [("attempt", .number(leased.attempt)), ("runner", .string(owner))]
        if let previous = leased.takenOverFrom { detail.append(("taken_over_from", .string(previous))) }
        if let lapsed = leased.leaseLapsedSeconds { detail.append(("lease_lapsed_seconds", .number((lapsed * 1000).rounded() / 1000))) }
        try record(
            job, taskId: leased.id, taskKey: leased.key, event: .taskStarted, actor: .system(owner),
            from: leased.previousStatus, to: TaskStatus.running.rawValue, detail: .object(detail))
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
        case let .failed(message, setVariables):
            (status, output, error, files, finishState, variables) = (.failed, nil, message, [], "error", setVariables)
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
        guard
            try connection.first(
                JobQueries.finishLeasedTask, task.id, owner, task.attempt, status, output?.serialized, error, finishState) != nil
        else { return false }
        if let variables { try connection.run(JobQueries.mergeJobVariables, job.id, variables.serialized) }
        for file in files {
            try connection.run(FileQueries.insertJobFile, job.surface.rawValue, file.name, job.id, Bytea.text(file.content))
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
        try connection.first(JobQueries.jobDocument, job.id) ?? [:]
    }
}

extension StateMachine {
    /// A leased task that waits (for its children, or for a time) without finishing; false
    /// when the lease was lost.
    private func park(
        _ task: LeasedTask, of job: JobRef, owner: String, as status: TaskStatus, seconds: Double,
        then: () throws -> Void
    ) throws -> Bool {
        guard try connection.first(JobQueries.parkLeasedTask, task.id, owner, task.attempt, status, seconds) != nil else {
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
