import Engine
import JSON
import Postgres

/// Why a person could not finish a task.
public enum ManualFinishRefusal: Error, Sendable, Equatable {
    case noSuchTask
    /// Not a task for a person, or not waiting for one.
    case notActive
    case unclaimed
    case claimedByOther
}

extension StateMachine {
    /// A person finishes a task that waits for one: under the job lock, only while it waits, is
    /// claimed, and is claimed by `user` (or `asAdmin`); then the job's flow moves on.
    func finishManualTask(
        _ job: JobRef, key: String, finishState: String, output: JSON, user: User, asAdmin: Bool,
        surfaces: SurfaceRegistry
    ) throws {
        guard let taskId = try connection.first(JobQueries.finishManualTask, job.id, key, finishState, output.serialized, user.id, asAdmin)
        else {
            guard let state = try connection.first(JobQueries.manualTaskState, job.id, key) else { throw ManualFinishRefusal.noSuchTask }
            if state.automatic || state.status != .ready { throw ManualFinishRefusal.notActive }
            throw state.claimed ? ManualFinishRefusal.claimedByOther : ManualFinishRefusal.unclaimed
        }
        try record(
            job, taskId: taskId, taskKey: key, event: .taskFinished, actor: .user(user),
            from: TaskStatus.ready.rawValue, to: TaskStatus.succeeded.rawValue, detail: ["finish_state": .string(finishState)])
        try moveOn(job, after: taskId, error: nil, surfaces: surfaces, actor: .user(user))
    }
}
