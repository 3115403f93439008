import Engine
import JSON
import Postgres

/// What a create-jobs request may set; nil takes the template's default.
public struct NewStepJobs: Sendable {
    public var count = 1
    public var jobId: String?
    public var jobName: String?
    public var startDate: Double?
    public var dueDate: Double?
    public var priority: String?
    public var description: String?
    public var notes: String?
    public var ownedBy: String?
    public var assignment: Assignment?
    public var percentComplete: JSON?
    public var jobStatus: String?
    public var parentJob: String?
    public var extendedProperties: JSON?

    public init() {}

    public static let maxCount = 10_000
}

public struct StepJobHistoryEntry: Sendable {
    public let date: String
    public let stepId: String?
    public let username: String
    public let event: String
    public let from: String?
    public let to: String?
    public let detail: JSON
}

public enum ManageType: String, Sendable, CaseIterable {
    case close = "Close"
    case reopen = "Reopen"
    case delete = "Delete"
    case upgrade = "Upgrade"

    public var privilege: String {
        switch self {
        case .close: "jobClose"
        case .reopen: "jobReopenClosed"
        case .delete: "jobDelete"
        case .upgrade: "jobUpgrade"
        }
    }
}

/// Workflow Manager jobs: created from a template, read with lapsed holds settled, and changed
/// only under the job's row lock, in one transaction per request.
public struct StepJobs {
    let connection: Connection
    let items: WorkflowItems

    // MARK: Create

    /// Creates `count` jobs of an Active template in one transaction; returns their ids and
    /// whether an automatic first step ran.
    public func create(item: Int64, templateId: String, _ new: NewStepJobs, by user: User) throws -> (ids: [String], autoExecuted: Bool) {
        guard (1...NewStepJobs.maxCount).contains(new.count) else {
            throw EngineError(.invalid, "numberOfJobs must be between 1 and \(NewStepJobs.maxCount)")
        }
        if new.jobId != nil, new.count > 1 { throw EngineError(.invalid, "jobId can only be given for a single job") }
        guard let template = try items.template(item: item, id: templateId) else {
            throw EngineError(.invalid, "Job template \(templateId) does not exist")
        }
        guard template.state == "Active" else { throw EngineError(.invalid, "Job template \(templateId) is not Active") }
        guard let stored = try items.diagram(item: item, id: template.diagramId) else {
            throw EngineError(.invalid, "Diagram \(template.diagramId) of the template does not exist")
        }
        let defaults = template.document
        let templateAssignment = try Self.templateAssignment(defaults, creator: user)
        let assignment = new.assignment ?? templateAssignment
        guard assignment == templateAssignment || StepPlanner.mayAssign(StepCaller(user), from: templateAssignment, to: assignment) else {
            throw EngineError(.forbidden, "You do not have the privilege to make this assignment")
        }
        if let due = new.dueDate, let start = new.startDate, due < start {
            throw EngineError(.invalid, "dueDate must not be before startDate")
        }
        let document = Self.jobDocument(new, template: template, diagram: stored, creator: user)
        do {
            return try connection.transaction { tx in
                try checkAssignees(assignment: assignment, owner: new.ownedBy, on: tx)
                let rows = try tx.rows(
                    StepQueries.insertJobs, item, try workflowRowId(item: item, stored, on: tx), new.count, new.jobId,
                    new.jobName ?? defaults["defaultJobName"]?.stringValue, document.serialized,
                    try ownerId(new.ownedBy, default: user, on: tx), user.id, user.username)
                let steps = JSON.array(
                    stored.diagram.steps.enumerated().map { position, step in
                        ["key": .string(step.id), "position": .number(position), "kind": .string(step.actionType.rawValue)]
                    })
                try tx.run(
                    StepQueries.insertSteps, rows.map { String($0.id) }, steps.serialized, stored.diagram.initialStepId,
                    assignment.userName, assignment.groupName, user.id, user.username)
                var autoExecuted = false
                if stored.diagram.step(stored.diagram.initialStepId)?.automatic == true {
                    for row in rows {
                        try change(item: item, jobId: row.publicId, caller: StepCaller(user), on: tx) { planner in
                            autoExecuted = planner.runAutomaticCurrentSteps() || autoExecuted
                        }
                    }
                }
                return (rows.map(\.publicId), autoExecuted)
            }
        } catch let error as PostgresError where error.isUniqueViolation {
            throw EngineError(.invalid, "A job with id \(new.jobId ?? "") already exists")
        }
    }

    static func templateAssignment(_ defaults: JSON, creator: User) throws -> Assignment {
        guard let type = defaults["defaultAssignedType"]?.stringValue else { return .unassigned }
        let assignee = defaults["defaultAssignedTo"]?.stringValue
        if type == "User", assignee == "JobCreator($job)" || assignee == "$currentUser" { return .user(creator.username) }
        guard let assignment = Assignment(type: type, to: assignee) else {
            throw EngineError(.invalid, "The template's defaultAssignedType/defaultAssignedTo are invalid")
        }
        return assignment
    }

    static func jobDocument(_ new: NewStepJobs, template: JobTemplate, diagram: StoredDiagram, creator: User) -> JSON {
        let defaults = template.document
        let start = new.startDate.map(Timestamp.format) ?? defaults["defaultStartDate"]?.stringValue
        var due = new.dueDate.map(Timestamp.format) ?? defaults["defaultDueDate"]?.stringValue
        if due == nil, let days = defaults["defaultJobDuration"]?.doubleValue, days > 0 {
            due = Timestamp.parse(start ?? "").map { Timestamp.format($0 + days * 86400) }
        }
        let initialStatus = defaults["defaultStatus"]?.stringValue ?? "New"
        return [
            "jobTemplateId": .string(template.id), "jobTemplateName": .string(template.name),
            "diagramId": .string(diagram.id), "diagramVersion": .number(diagram.version), "diagramName": .string(diagram.diagram.name),
            "description": .string(new.description ?? defaults["defaultDescription"]?.stringValue ?? defaults["description"]?.stringValue),
            "notes": .string(new.notes), "priority": .string(new.priority ?? defaults["defaultPriorityName"]?.stringValue ?? "Low"),
            "percentComplete": new.percentComplete ?? 0, "jobStatus": .string(new.jobStatus ?? initialStatus),
            "createdBy": .string(creator.username), "startDate": .string(start), "dueDate": .string(due),
            "parentJob": .string(new.parentJob), "extendedProperties": new.extendedProperties ?? [],
            "initialStatus": .string(initialStatus),
            "finalStatus": .string(defaults["defaultFinalStatus"]?.stringValue ?? "Closed"),
        ]
    }

    func checkAssignees(assignment: Assignment, owner: String?, on tx: Connection) throws {
        let user = assignment.userName
        let group = assignment.groupName
        let exist = try tx.first(Self.assigneesExist, user, group, owner)
        if user != nil, exist?.user != true { throw EngineError(.invalid, "User \(user ?? "") does not exist") }
        if group != nil, exist?.group != true { throw EngineError(.invalid, "Group \(group ?? "") does not exist") }
        if owner != nil, exist?.owner != true { throw EngineError(.invalid, "User \(owner ?? "") does not exist") }
    }

    private func ownerId(_ name: String?, default user: User, on tx: Connection) throws -> Int64 {
        guard let name else { return user.id }
        return try tx.first(Self.userId, name) ?? user.id
    }

    private func workflowRowId(item: Int64, _ stored: StoredDiagram, on tx: Connection) throws -> Int64 {
        guard let id = try tx.first(Self.workflowRow, item, stored.id, stored.version) else {
            throw EngineError(.invalid, "Diagram \(stored.id) does not exist")
        }
        return id
    }

    // MARK: Read

    /// The job, after releasing holds that lapsed since the last look; nil if it does not exist.
    public func job(item: Int64, id: String) throws -> StepJob? {
        guard let job = try connection.first(StepQueries.readJob, item, id) else { return nil }
        guard job.holds.contains(where: { $0.releasedAt == nil && $0.lapsedAt != nil }) else { return job }
        let system = StepCaller(userId: nil, username: "system", groups: [], privileges: [])
        try connection.transaction { tx in
            try change(item: item, jobId: id, caller: system, on: tx) { _ in }
        }
        return try connection.first(StepQueries.readJob, item, id)
    }

    public func history(item: Int64, id: String) throws -> [StepJobHistoryEntry]? {
        guard let job = try job(item: item, id: id) else { return nil }
        return try connection.rows(StepQueries.history, job.id)
    }

    // MARK: Change

    /// Runs one job action under the job lock; nil if the job does not exist.
    public func act(item: Int64, jobId: String, _ action: StepAction, by caller: StepCaller) throws -> [StepResponse]? {
        var action = action
        return try connection.transaction { tx in
            if action.kind == .hold, let dependency = action.dependency {
                action.dependency = try resolveDependency(item: item, of: jobId, dependency, on: tx)
            }
            return try change(item: item, jobId: jobId, caller: caller, on: tx) { planner in planner.perform(action) }
        }
    }

    /// Close, Reopen or Delete several jobs, all or nothing: the jobs are locked in ascending id
    /// order; any refusal rolls everything back. Returns the refusals as "jobId: reason" lines.
    public func manage(item: Int64, _ type: ManageType, jobIds: [String], by caller: StepCaller) throws -> [String] {
        guard caller.has(type.privilege) else { throw EngineError(.forbidden, "The \(type.privilege) privilege is required") }
        guard type != .upgrade else { throw EngineError(.invalid, "Upgrade is not supported: diagrams have one version") }
        do {
            try connection.transaction { tx in
                let rows = try tx.rows(StepQueries.lockJobsInOrder, item, jobIds)
                let locked = rows.map(\.publicId)
                var refusals = jobIds.filter { !locked.contains($0) }.map { "\($0): The job does not exist" }
                for id in locked {
                    let reason: String?? = try change(item: item, jobId: id, caller: caller, on: tx) { planner in
                        switch type {
                        case .close: planner.close()
                        case .reopen: planner.reopen()
                        case .delete, .upgrade: planner.deleteRefusal()
                        }
                    }
                    if let reason = reason ?? "The job does not exist" { refusals.append("\(id): \(reason)") }
                }
                guard refusals.isEmpty else { throw ManageRefused(reasons: refusals) }
                if type == .delete {
                    for key in rows.map(\.id) {
                        try tx.run(StepQueries.deletedEvent, key, caller.userId, caller.username)
                        try tx.run(StepQueries.deleteJob, key)
                    }
                }
            }
            return []
        } catch let refused as ManageRefused {
            return refused.reasons
        }
    }

    /// Rolls a manage request back.
    private struct ManageRefused: Error {
        let reasons: [String]
    }

    /// Assigns a current step (`currentStep`: the job's first current step). Returns nil when the
    /// job does not exist.
    public func assign(item: Int64, jobId: String, stepId: String, to assignment: Assignment, by caller: StepCaller) throws -> Bool {
        try connection.transaction { tx in
            try checkAssignees(assignment: assignment, owner: nil, on: tx)
            let groupsWithRoles = Set(try tx.rows(Self.groupsWithRoles))
            let refusal: (forbidden: Bool, reason: String)?? = try change(item: item, jobId: jobId, caller: caller, on: tx) { planner in
                let target = stepId == "currentStep" ? planner.currentStepIds.first ?? stepId : stepId
                return planner.assign(target, to: assignment, groupHasRole: { groupsWithRoles.contains($0) })
            }
            guard let refusal else { return false }
            if let refusal { throw EngineError(refusal.forbidden ? .forbidden : .invalid, refusal.reason) }
            return true
        }
    }

    /// Locks the job, lets `decide` plan on it, and writes the plan — unless the plan holds a
    /// refusal (the closure's result says so by being a non-nil reason for manage/assign).
    /// Returns nil if the job does not exist.
    @discardableResult
    func change<T>(
        item: Int64, jobId: String, caller: StepCaller, on tx: Connection,
        _ decide: (inout StepPlanner) -> T
    ) throws -> T? {
        guard try tx.first(StepQueries.lockJob, item, jobId) != nil, let job = try tx.first(StepQueries.readJob, item, jobId) else {
            return nil
        }
        var planner = StepPlanner(
            job, caller: caller, finalJobStatus: job.document["finalStatus"]?.stringValue ?? "Closed",
            initialJobStatus: job.document["initialStatus"]?.stringValue ?? "New")
        let result = decide(&planner)
        try StateMachine(tx, surfaces: WorkflowManagerSurface.registry).apply(planner, caller: caller)
        return result
    }

    private func resolveDependency(item: Int64, of jobId: String, _ dependency: HoldDependency, on tx: Connection) throws -> HoldDependency
    {
        guard dependency.jobId != jobId else { throw EngineError(.invalid, "A job cannot depend on itself") }
        guard let target = try tx.first(StepQueries.dependencyTarget, item, dependency.jobId) else {
            throw EngineError(.invalid, "Dependent job \(dependency.jobId) does not exist")
        }
        let (key, steps, finished) = (target.id, target.steps, target.finished)
        if target.isClosed { throw EngineError(.invalid, "Dependent job \(dependency.jobId) is already closed") }
        if let step = dependency.stepId {
            guard steps.contains(step) else {
                throw EngineError(.invalid, "Step \(step) does not exist in dependent job \(dependency.jobId)")
            }
            if finished.contains(step) {
                throw EngineError(.invalid, "Step \(step) of job \(dependency.jobId) is already finished")
            }
        }
        return HoldDependency(jobKey: key, jobId: dependency.jobId, stepId: dependency.stepId)
    }

    // MARK: Rows and plans

    @Sendable static func decode(_ row: Row) throws -> StepJob {
        // A stored diagram was checked when it was saved: one that no longer parses is corrupt.
        let diagram = try Diagram(try row.json("diagram"))
        let steps = (try row.optionalJSON("steps")?.arrayValue ?? []).compactMap { value -> StepRun? in
            guard let fields = value.arrayValue, fields.count == 7, let key = fields[0].stringValue,
                let status = fields[1].stringValue.flatMap(TaskStatus.init(rawValue:))
            else { return nil }
            let assignment: Assignment =
                fields[3].stringValue.map(Assignment.user) ?? fields[4].stringValue.map(Assignment.group) ?? .unassigned
            return StepRun(
                key: key, status: status, isCurrent: fields[2].boolValue ?? false, assignment: assignment,
                arrivals: fields[5].intValue ?? 0, result: fields[6].stringValue)
        }
        let holds = (try row.optionalJSON("holds")?.arrayValue ?? []).compactMap { value -> StepHold? in
            guard let f = value.arrayValue, f.count == 12, let holdId = f[0].intValue, let stepId = f[2].stringValue,
                let kind = f[3].stringValue.flatMap(HoldKind.init(rawValue:))
            else { return nil }
            return StepHold(
                id: Int64(holdId), publicId: f[1].stringValue, stepId: stepId, kind: kind, setBy: f[4].stringValue,
                setAt: f[5].doubleValue ?? 0, scheduledRelease: f[6].doubleValue, dependentJobId: f[7].stringValue,
                dependentStepId: f[8].stringValue, releasedBy: f[9].stringValue, releasedAt: f[10].doubleValue,
                lapsedAt: f[11].doubleValue)
        }
        return StepJob(
            id: try row.value("id"), publicId: try row.value("public_id"), name: try row.value("name"), itemKey: try row.value("item_id"),
            isClosed: try row.value("status", as: String.self) == "closed", diagram: diagram,
            diagramVersion: try row.value("diagram_version"), document: try row.json("document"),
            createdBy: try row.optional("created_by"), ownedBy: try row.optional("owned_by"), createdAt: try row.value("created_at"),
            startedAt: try row.optional("started_at"), endedAt: try row.optional("finished_at"), steps: steps, holds: holds,
            now: try row.value("now"))
    }

    package static func planJSON(_ planner: StepPlanner) -> JSON {
        var plan: [(String, JSON)] = [
            (
                "steps",
                .array(
                    planner.changedSteps.compactMap { planner.steps[$0] }.map { run in
                        [
                            "key": .string(run.key), "status": .string(run.status.rawValue), "is_current": .bool(run.isCurrent),
                            "assigned_user": .string(run.assignment.userName), "assigned_group": .string(run.assignment.groupName),
                            "arrivals": .number(run.arrivals),
                            "result": .string(run.result),
                        ]
                    })
            ),
            (
                "addedHolds",
                .array(
                    planner.addedHolds.map { hold in
                        [
                            "step_id": .string(hold.stepId), "kind": .string(hold.kind.rawValue),
                            "scheduled_release": hold.scheduledRelease.map { JSON.number($0) } ?? .null,
                            "dependent_job_key": hold.dependentJobKey.map { JSON.number(Int($0)) } ?? .null,
                            "dependent_step_id": .string(hold.dependentStepId),
                        ]
                    })
            ),
            (
                "releases",
                .array(
                    planner.releases.map { release in
                        ["hold_id": .number(Int(release.holdId)), "lapsed_at": release.lapsedAt.map { JSON.number($0) } ?? .null]
                    })
            ),
            (
                "events",
                .array(
                    planner.events.map { event in
                        JobEvent(
                            jobId: planner.job.id, taskKey: event.stepId, event.event,
                            actor: event.bySystem ? .system("system") : Actor(userId: planner.caller.userId, name: planner.caller.username),
                            from: event.from, to: event.to, detail: event.detail
                        ).json
                    })
            ),
        ]
        if let status = planner.jobStatus { plan.append(("status", .string(status))) }
        if !planner.documentChanges.isEmpty { plan.append(("document", .object(planner.documentChanges))) }
        return .object(plan)
    }

    static let assigneesExist = Query(
        "wm_assignees_exist",
        """
        SELECT EXISTS (SELECT 1 FROM users WHERE username = $1 AND active) AS user_exists,
               EXISTS (SELECT 1 FROM groups WHERE name = $2) AS group_exists,
               EXISTS (SELECT 1 FROM users WHERE username = $3 AND active) AS owner_exists
        """, binding: String?.self, String?.self, String?.self,
        reading: { row in
            (
                user: try row.value("user_exists", as: Bool.self), group: try row.value("group_exists", as: Bool.self),
                owner: try row.value("owner_exists", as: Bool.self)
            )
        })
    static let userId = Query(
        "wm_user_id", "SELECT id FROM users WHERE username = $1", binding: String.self, reading: { try $0.value("id", as: Int64.self) })
    static let workflowRow = Query(
        "wm_workflow_row",
        """
        SELECT id FROM workflows WHERE surface = 'workflow_manager' AND item_id = $1 AND public_id = $2 AND version = $3
        """, binding: Int64.self, String.self, Int.self, reading: { try $0.value("id", as: Int64.self) })
    static let groupsWithRoles = Query(
        "wm_groups_with_roles",
        "SELECT DISTINCT g.name FROM groups g JOIN group_privilege_sets s ON s.group_id = g.id",
        reading: { try $0.value("name", as: String.self) })
}

extension StepJobs: StatementCatalog {
    package static var statements: [Statement] {
        [assigneesExist.statement, userId.statement, workflowRow.statement, groupsWithRoles.statement, updateJob.statement]
    }
}
