import Engine

extension StateMachine {
    /// Writes what a step planner decided for a job whose row the caller has locked: step
    /// states, holds, the job's status and document, and every history row, in one statement.
    /// The planner only makes `TaskStatus` moves; the job's move is checked here.
    func apply(_ planner: StepPlanner, caller: StepCaller) throws {
        guard !planner.events.isEmpty else { return }
        let job = planner.job
        let from = job.isClosed ? "closed" : "open"
        if let to = planner.jobStatus, to != from, !WorkflowManagerSurface.lifecycle.canMove(from: from, to: to) {
            throw EngineError(.conflict, "Job \(job.publicId) cannot go from \(from) to \(to)")
        }
        try connection.run(StepQueries.applyPlan, job.id, StepJobs.planJSON(planner).serialized, caller.userId)
    }
}
