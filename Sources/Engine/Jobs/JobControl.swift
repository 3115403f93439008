import JSON
import Postgres

/// Pausing, resuming and canceling jobs of one surface, several at a time.
public enum JobControlAction: Sendable {
    case pause
    case resume
    case cancel

    var target: String {
        switch self {
        case .pause: "paused"
        case .resume: "running"
        case .cancel: "canceled"
        }
    }
}

/// Why one job was left as it was.
public enum JobControlRefusal: Equatable, Sendable {
    case unknown(publicId: String)
    case wrongStatus(publicId: String, status: String)

    public var publicId: String {
        switch self {
        case let .unknown(id), let .wrongStatus(id, _): id
        }
    }

    public var message: String {
        switch self {
        case let .unknown(id): "Job \(id) does not exist"
        case let .wrongStatus(id, status): "Job \(id) is \(status)"
        }
    }
}

extension Jobs {
    /// Applies the action to each job it can (locked in ascending id order, one transaction) and
    /// returns the reason for each job it could not: unknown, or in a status it does not apply to.
    public func control(
        _ action: JobControlAction, surface: SurfaceName, publicIds: [String], actor: Actor,
        allowedFrom: Set<String>
    ) throws -> [JobControlRefusal] {
        try connection.transaction { tx in
            let machine = StateMachine(tx, surfaces: surfaces)
            let jobs = try tx.rows(JobQueries.lockJobsByPublicId, surface.rawValue, publicIds)
            var refusals = publicIds.filter { id in !jobs.contains { $0.publicId == id } }.map(JobControlRefusal.unknown)
            for job in jobs {
                guard allowedFrom.contains(job.status) else {
                    refusals.append(.wrongStatus(publicId: job.publicId, status: job.status))
                    continue
                }
                if action == .cancel {
                    try cancel(job, machine: machine, actor: actor)
                } else {
                    try machine.changeJobStatus(job, to: action.target, actor: actor)
                }
                if action == .resume { try tx.run(JobQueries.notifyRunners) }
            }
            return refusals
        }
    }

    /// Cancels a job, its unfinished tasks and, in turn, the child jobs still open.
    private func cancel(_ job: JobRef, machine: StateMachine, actor: Actor) throws {
        try machine.changeJobStatus(job, to: JobControlAction.cancel.target, actor: actor)
        for task in try machine.connection.rows(JobQueries.cancelOpenTasks, job.id) {
            try machine.record(
                job, taskId: task.id, taskKey: task.key, event: .taskStatusChanged, actor: actor, from: task.previous,
                to: TaskStatus.canceled.rawValue)
        }
        for id in try machine.connection.rows(JobQueries.openChildJobs, job.id) {
            guard let child = try machine.lockJob(id: id),
                try !machine.surfaces.lifecycle(for: child.surface).isTerminal(child.status)
            else { continue }
            try cancel(child, machine: machine, actor: actor)
        }
    }
}
