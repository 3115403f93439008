import Engine

extension StepQueries {
    private static let placeholderJobId: Int64 = 987_654_321

    /// The write statement with the plan the planner makes for a Run or Finish of a step `a`
    /// that loops to itself, as a literal in place of $2 (its history rows name job $1).
    package static func applyingPlan(of kind: StepActionKind, after status: TaskStatus) -> String {
        guard let diagram = try? Diagram(["diagramName": "loop", "steps": [["id": "a", "paths": [["nextStep": "a"]]]]]) else { return "" }
        let job = StepJob(
            id: placeholderJobId, publicId: "", name: "", itemKey: 0, isClosed: false, diagram: diagram, diagramVersion: 1,
            document: [:], createdBy: nil, ownedBy: nil, createdAt: 0, startedAt: nil, endedAt: nil,
            steps: [StepRun(key: "a", status: status, isCurrent: true, assignment: .user("admin"))], holds: [], now: 0)
        var planner = StepPlanner(
            job, caller: StepCaller(userId: nil, username: "admin", groups: [], privileges: []),
            finalJobStatus: "Closed", initialJobStatus: "New")
        _ = planner.perform(StepAction(kind: kind))
        let plan = StepJobs.planJSON(planner).serialized.replacing("'", with: "''")
            .replacing("\"job_id\":\(placeholderJobId)", with: "\"job_id\":' || $1 || '")
        return StepQueries.applyPlan.sql.replacing("$2::jsonb", with: "('" + plan + "')::jsonb")
    }
}
