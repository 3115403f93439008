import Engine
import JSON
import Postgres

/// How an operator runs part of a job again (spec §4.3). Each starts a new iteration of the task
/// it names, resets what follows it, and puts an errored job back to `running`.
public enum ItentialRerun: Sendable {
    /// Re-runs a task in `error`, with its incoming variables overridden by these.
    case retry(variables: JSON)
    /// Goes on from a task of a job in `error`, leaving the tasks before it as they are.
    case continueFrom
    /// From a task in `error` of a paused or errored job back to a completed earlier task.
    case revert(from: String)
}

extension ItentialJobs {
    /// Reruns job `id` from task `key` under the job's lock, in one transaction; refusals are
    /// `EngineError`s (not found, or a conflict with the job's or the tasks' state).
    public func rerun(id: String, from key: String, _ rerun: ItentialRerun, by user: User) throws {
        try connection.transaction { tx in
            let machine = StateMachine(tx, surfaces: jobs.surfaces)
            guard var job = try machine.lockJob(.itential, publicId: id) else {
                throw EngineError(.notFound, "Job \(id) not found")
            }
            let tasks = try machine.taskSnapshots(jobId: job.id)
            func task(_ key: String) throws -> TaskSnapshot {
                guard let task = tasks.first(where: { $0.key == key }) else {
                    throw EngineError(.notFound, "Task \(key) not found in job \(id)")
                }
                return task
            }
            let target = try task(key)
            guard !ItentialSurface.lifecycle.isTerminal(job.status) else {
                throw EngineError(.conflict, "Job \(id) is \(job.status)")
            }
            switch rerun {
            case let .retry(variables):
                guard target.status == .failed else { throw EngineError(.conflict, "Task \(key) is not in error") }
                if let overrides = variables.objectValue, !overrides.isEmpty {
                    try tx.run(Self.overrideIncoming, target.id, variables.serialized)
                }
            case .continueFrom:
                guard job.status == "error" else { throw EngineError(.conflict, "Job \(id) is \(job.status), not error") }
                guard ![.ready, .running, .waiting].contains(target.status) else {
                    throw EngineError(.conflict, "Task \(key) is already running")
                }
            case let .revert(from):
                guard job.status == "error" || job.status == "paused" else {
                    throw EngineError(.conflict, "Job \(id) is \(job.status); only a paused or errored job can be reverted")
                }
                guard try task(from).status == .failed else { throw EngineError(.conflict, "Task \(from) is not in error") }
                guard target.status == .succeeded else { throw EngineError(.conflict, "Task \(key) is not complete") }
            }
            if job.status != "running" {
                job = try machine.changeJobStatus(job, to: "running", actor: .user(user), detail: ["rerun_from": .string(key)])
            }
            let flow = try jobs.surfaces.flow(for: .itential)
            try machine.apply(flow.rerun(from: key, tasks: tasks, job: try machine.document(of: job)), to: job, actor: .user(user))
        }
    }

    static let overrideIncoming = Query(
        "itential_task_override_incoming",
        """
        UPDATE tasks SET input = jsonb_set(input::jsonb, '{variables,incoming}',
                                           coalesce(input::jsonb #> '{variables,incoming}', '{}') || $2::jsonb)::json
        WHERE id = $1
        """, binding: Int64.self, String.self)
}
