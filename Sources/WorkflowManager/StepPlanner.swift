import Engine
import JSON

/// A history row the plan writes. `bySystem`: written by Flowgate itself (lapsed holds,
/// automatic steps) rather than the caller.
public struct PlannedEvent: Sendable, Equatable {
    public let stepId: String?
    public let event: JobEventKind
    public let from: String?
    public let to: String?
    public let detail: JSON
    public let bySystem: Bool
}

public struct HoldRelease: Sendable, Equatable {
    public let holdId: Int64
    /// When it lapsed; nil: now, released by the caller.
    public let lapsedAt: Double?
}

/// The Workflow Manager rules, pure: given a job loaded under its row lock and one request, it
/// decides every per-step answer and every change (step states, holds, job status, history).
/// The engine then writes the changes in one statement of the same transaction.
public struct StepPlanner {
    public let job: StepJob
    public private(set) var steps: [String: StepRun]
    public private(set) var holds: [StepHold]
    /// Keys of steps whose row changed, in the order they first changed.
    public private(set) var changedSteps: [String] = []
    public private(set) var addedHolds: [StepHold] = []
    public private(set) var releases: [HoldRelease] = []
    public private(set) var events: [PlannedEvent] = []
    public private(set) var jobStatus: String?
    public private(set) var documentChanges: [(String, JSON)] = []
    let caller: StepCaller
    /// Guards against diagrams whose automatic steps loop forever.
    private var automaticRuns = 0
    static let automaticRunLimit = 100

    /// The job status a job gets when it closes, and when it opens again.
    let finalJobStatus: String
    let initialJobStatus: String

    public init(_ job: StepJob, caller: StepCaller, finalJobStatus: String, initialJobStatus: String) {
        self.job = job
        self.caller = caller
        self.finalJobStatus = finalJobStatus
        self.initialJobStatus = initialJobStatus
        steps = Dictionary(uniqueKeysWithValues: job.steps.map { ($0.key, $0) })
        holds = job.holds
        releaseLapsedHolds()
    }

    public var isClosed: Bool { jobStatus.map { $0 == "closed" } ?? job.isClosed }
    public var currentStepIds: [String] { job.steps.map(\.key).filter { steps[$0]?.isCurrent == true } }
    public var isRunning: Bool { steps.values.contains { $0.isCurrent && $0.isExecuting } }

    public func isHeld(_ stepId: String) -> Bool {
        holds.contains { $0.stepId == stepId && $0.isActive } || addedHolds.contains { $0.stepId == stepId }
    }

    public func isAssigned(_ stepId: String, to caller: StepCaller) -> Bool {
        switch steps[stepId]?.assignment {
        case let .user(name): name == caller.username
        case let .group(group): caller.groups.contains(group)
        case .unassigned, nil: false
        }
    }

    // MARK: Actions

    /// Applies one job action; request-level checks (privileges, step counts, the dependency
    /// itself) are the caller's, done before.
    public mutating func perform(_ action: StepAction) -> [StepResponse] {
        var targets: [String] = []
        for id in action.stepIds where !targets.contains(id) { targets.append(id) }
        if targets.isEmpty {
            targets =
                action.kind == .releaseHold
                ? job.steps.map(\.key).filter { key in holds.contains { $0.stepId == key && $0.isActive } }
                : currentStepIds
        }
        guard !targets.isEmpty else {
            let outcome: StepOutcome = isClosed ? .jobClosed : action.kind == .releaseHold ? .notHeld : .noActiveStep
            return [StepResponse(stepId: "", outcome: outcome)]
        }
        return targets.map { StepResponse(stepId: $0, outcome: perform(action, on: $0)) }
    }

    private mutating func perform(_ action: StepAction, on stepId: String) -> StepOutcome {
        if isClosed { return .jobClosed }
        guard let step = job.diagram.step(stepId), let run = steps[stepId] else { return .stepNotInDiagram }
        if action.kind != .setCurrentStep, action.kind != .releaseHold, !run.isCurrent { return .stepNotCurrent }
        switch action.kind {
        case .run:
            guard isAssigned(stepId, to: caller) else { return .assignedToDifferentUser }
            guard !isHeld(stepId) else { return .held }
            if run.status == .running { return .alreadyExecuting }
            if run.status == .waiting { return .waitingForInfo }
            start(step, bySystem: false)
            return .success
        case .finish:
            guard isAssigned(stepId, to: caller) else { return .assignedToDifferentUser }
            guard !isHeld(stepId) else { return .held }
            var result = step.actionType == .question ? action.answer : run.result
            switch run.status {
            case .waiting:
                guard action.answer != nil else { return .waitingForInfo }
            case .ready, .canceled:
                guard step.canSkip else { return .noStartedStep }
            case .running where step.actionType == .question:
                result = action.answer
            default:
                break
            }
            return finish(step, result: result, bySystem: false)
        case .stop:
            guard run.isExecuting else { return .notRunning }
            guard isAssigned(stepId, to: caller) || caller.has("jobForceStop") else { return .assignedToDifferentUser }
            let stopped: TaskStatus = step.actionType == .manual || step.actionType == .openApp ? .paused : .canceled
            move(stepId, to: stopped, event: .taskStatusChanged, detail: ["action": stopped == .paused ? "Paused" : "Cancelled"])
            return .success
        case .setCurrentStep:
            guard !isRunning else { return .alreadyExecuting }
            setCurrent(step)
            return .success
        case .hold:
            guard !run.isExecuting else { return .alreadyExecuting }
            addHold(on: stepId, action)
            return .success
        case .releaseHold:
            let matching = holds.indices.filter { index in
                let hold = holds[index]
                guard hold.stepId == stepId, hold.isActive else { return false }
                guard let dependency = action.dependency else { return !hold.kind.isDependency }
                return hold.kind.isDependency && hold.dependentJobId == dependency.jobId
                    && (dependency.stepId == nil || hold.dependentStepId == dependency.stepId)
            }
            guard !matching.isEmpty else { return .notHeld }
            for index in matching { release(index, lapsedAt: nil) }
            return .success
        case .refreshStatus:
            guard caller.isAdmin || isAssigned(stepId, to: caller) else { return .assignedToDifferentUser }
            if step.automatic, run.status == .ready, !isHeld(stepId) { start(step, bySystem: true) }
            return .success
        }
    }

    /// Starts current automatic steps that are ready and not held (a new job's first step);
    /// true if one ran.
    public mutating func runAutomaticCurrentSteps() -> Bool {
        var ran = false
        for id in currentStepIds {
            guard let step = job.diagram.step(id), step.automatic, steps[id]?.status == .ready, !isHeld(id) else { continue }
            start(step, bySystem: true)
            ran = true
        }
        return ran
    }

    // MARK: Manage and assign

    /// Closes the job; the reason it cannot, or nil.
    public mutating func close() -> String? {
        if isClosed { return "The job is already closed" }
        if isRunning { return "The job is running" }
        closeJob(reason: "Closed", bySystem: false)
        return nil
    }

    /// Opens a closed job again with the steps that were current at Close, as Ready.
    public mutating func reopen() -> String? {
        guard isClosed else { return "The job is not closed" }
        jobStatus = "open"
        documentChanges.append(("jobStatus", .string(initialJobStatus)))
        events.append(
            PlannedEvent(
                stepId: nil, event: .jobStatusChanged, from: "closed", to: "open",
                detail: ["action": "Reopened"], bySystem: false))
        for id in currentStepIds where steps[id]?.status != .ready {
            move(id, to: .ready, event: .taskReady, detail: ["action": "Reactivated"])
        }
        return nil
    }

    public func deleteRefusal() -> String? { isRunning ? "The job is running" : nil }

    /// Assigns a current step, under the assignment privileges; the reason it cannot, or nil.
    /// `groupHasRole` says whether a group exists and holds a privilege set.
    public mutating func assign(_ stepId: String, to assignment: Assignment, groupHasRole: (String) -> Bool) -> (
        forbidden: Bool, reason: String
    )? {
        if isClosed { return (false, "The job is closed") }
        guard let run = steps[stepId], job.diagram.step(stepId) != nil else {
            return (false, "Step \(stepId) does not exist in the workflow diagram")
        }
        guard run.isCurrent else { return (false, "Step \(stepId) is not a current step") }
        if run.isExecuting { return (false, "Step \(stepId) is running") }
        if case let .group(name) = assignment, !groupHasRole(name) {
            return (false, "Group \(name) does not exist or has no Workflow Manager role")
        }
        guard mayAssign(from: run.assignment, to: assignment) else {
            return (true, "You do not have the privilege to make this assignment")
        }
        var changed = run
        changed.assignment = assignment
        update(changed)
        events.append(
            PlannedEvent(
                stepId: stepId, event: .taskAssigned, from: run.assignment.assignee, to: assignment.assignee,
                detail: ["assignedType": .string(assignment.typeName), "action": "Reassigned"], bySystem: false))
        return nil
    }

    func mayAssign(from current: Assignment, to new: Assignment) -> Bool {
        Self.mayAssign(caller, from: current, to: new)
    }

    /// jobAssignAny: anything. jobAssignGroup: a step of one of your groups to anyone in it.
    /// jobAssignIndividual: your group's step to yourself, your own step to one of your groups.
    /// Creating a job with an assignment is assigning its first step away from the template's.
    static func mayAssign(_ caller: StepCaller, from current: Assignment, to new: Assignment) -> Bool {
        if caller.has("jobAssignAny") { return true }
        if caller.has("jobAssignGroup"), case let .group(group) = current, caller.groups.contains(group) { return true }
        if caller.has("jobAssignIndividual") {
            if case let .group(group) = current, caller.groups.contains(group), new == .user(caller.username) { return true }
            if current == .user(caller.username), case let .group(group) = new, caller.groups.contains(group) { return true }
            if current == .unassigned, new == .user(caller.username) { return true }
        }
        return false
    }

    // MARK: Moving steps

    private mutating func start(_ step: DiagramStep, bySystem: Bool) {
        move(step.id, to: .running, event: .taskStarted, detail: ["action": "Started"], bySystem: bySystem)
        switch step.actionType {
        case .question:
            move(step.id, to: .waiting, event: .taskStatusChanged, detail: ["action": "InfoRequired"], bySystem: bySystem)
        case .gp:
            if let failure = step.failure {
                move(
                    step.id, to: .failed, event: .taskFailed, detail: ["action": "Error", "error": .string(failure)], bySystem: bySystem)
                return
            }
            var run = steps[step.id]!
            run.result = step.returnCode
            update(run)
            if step.proceedNext { _ = finish(step, result: step.returnCode, bySystem: bySystem) }
        case .manual, .openApp:
            if step.proceedNext { _ = finish(step, result: nil, bySystem: bySystem) }
        }
    }

    private mutating func finish(_ step: DiagramStep, result: String?, bySystem: Bool) -> StepOutcome {
        let matching = step.paths.filter { $0.matches(result) }
        if !step.paths.isEmpty, matching.isEmpty { return .noMatchingPaths }
        let previous = steps[step.id]!.assignment
        var detail: [(String, JSON)] = [("action", "Finished")]
        if let result { detail.append(("result", .string(result))) }
        move(step.id, to: .succeeded, current: false, event: .taskFinished, detail: .object(detail), bySystem: bySystem)
        for path in matching {
            if let status = path.jobStatus { documentChanges.append(("jobStatus", .string(status))) }
            arrive(at: path.nextStep, assignment: path.assignment ?? previous, bySystem: bySystem)
        }
        activateJoinsNoBranchCanReach(assignment: previous, bySystem: bySystem)
        if currentStepIds.isEmpty, !isClosed {
            // The workflow ended: the last step stays marked current so that Reopen restores it.
            var last = steps[step.id]!
            last.isCurrent = true
            update(last)
            closeJob(reason: "Completed", bySystem: bySystem)
        }
        return .success
    }

    /// A join waits while another current step can still reach it.
    private mutating func arrive(at stepId: String, assignment: Assignment, bySystem: Bool) {
        if job.diagram.incomingPathCount(stepId) > 1,
            currentStepIds.contains(where: { $0 != stepId && job.diagram.canReach(from: $0, to: stepId) })
        {
            var run = steps[stepId]!
            run.arrivals += 1
            update(run)
            return
        }
        activate(stepId, assignment: assignment, bySystem: bySystem)
    }

    private mutating func activateJoinsNoBranchCanReach(assignment: Assignment, bySystem: Bool) {
        for id in job.steps.map(\.key) where steps[id]!.arrivals > 0 && !steps[id]!.isCurrent {
            if !currentStepIds.contains(where: { job.diagram.canReach(from: $0, to: id) }) {
                activate(id, assignment: assignment, bySystem: bySystem)
            }
        }
    }

    private mutating func activate(_ stepId: String, assignment: Assignment, bySystem: Bool) {
        var run = steps[stepId]!
        if run.isCurrent, run.isExecuting { return }
        run.arrivals = 0
        run.assignment = assignment
        update(run)
        move(stepId, to: .ready, current: true, event: .taskReady, detail: ["action": "Activated"], bySystem: bySystem)
        if let step = job.diagram.step(stepId), step.automatic, !isHeld(stepId), automaticRuns < StepPlanner.automaticRunLimit {
            automaticRuns += 1
            start(step, bySystem: true)
        }
    }

    private mutating func setCurrent(_ step: DiagramStep) {
        let replaced = currentStepIds.filter { $0 != step.id }
        let target = steps[step.id]!
        let assignment = target.isCurrent ? target.assignment : replaced.first.map { steps[$0]!.assignment } ?? target.assignment
        for id in replaced {
            for index in holds.indices where holds[index].stepId == id && holds[index].isActive { release(index, lapsedAt: nil) }
            move(id, to: .pending, current: false, event: .taskDeactivated, detail: ["action": "Deactivated"])
        }
        for id in job.steps.map(\.key) where steps[id]!.arrivals > 0 {
            var waiting = steps[id]!
            waiting.arrivals = 0
            update(waiting)
        }
        if target.isCurrent, target.status == .ready { return }
        activate(step.id, assignment: assignment, bySystem: false)
    }

    private mutating func closeJob(reason: String, bySystem: Bool) {
        jobStatus = "closed"
        documentChanges.append(("jobStatus", .string(finalJobStatus)))
        events.append(
            PlannedEvent(
                stepId: nil, event: .jobStatusChanged, from: "open", to: "closed",
                detail: ["action": .string(reason)], bySystem: bySystem))
    }

    /// Changes a step's status (and whether it is current), with its history row.
    private mutating func move(
        _ stepId: String, to status: TaskStatus, current: Bool? = nil, event: JobEventKind,
        detail: JSON, bySystem: Bool = false
    ) {
        var run = steps[stepId]!
        let from = run.status
        // The rules above only make lifecycle moves; refusing here keeps a rule mistake from
        // ever writing an impossible state (the unit tests cover every move the rules make).
        guard from == status || from.canMove(to: status) else { return }
        run.status = status
        if let current { run.isCurrent = current }
        update(run)
        events.append(
            PlannedEvent(
                stepId: stepId, event: event, from: from.rawValue, to: status.rawValue,
                detail: detail, bySystem: bySystem))
    }

    private mutating func update(_ run: StepRun) {
        steps[run.key] = run
        if !changedSteps.contains(run.key) { changedSteps.append(run.key) }
    }

    // MARK: Holds

    private mutating func addHold(on stepId: String, _ action: StepAction) {
        let kind: HoldKind =
            action.dependency.map { $0.stepId == nil ? .jobDependency : .stepDependency }
            ?? (action.holdScheduledRelease == nil ? .manual : .scheduled)
        let hold = StepHold(
            id: nil, publicId: nil, stepId: stepId, kind: kind, setBy: caller.username, setAt: job.now,
            scheduledRelease: kind == .scheduled ? action.holdScheduledRelease : nil,
            dependentJobId: action.dependency?.jobId, dependentJobKey: action.dependency?.jobKey,
            dependentStepId: action.dependency?.stepId)
        addedHolds.append(hold)
        var detail: [(String, JSON)] = [("action", kind.isDependency ? "DependencyAdded" : "Held"), ("kind", .string(kind.rawValue))]
        if let release = hold.scheduledRelease { detail.append(("scheduledRelease", .number(release))) }
        if let dependency = action.dependency {
            detail.append(("dependentJobId", .string(dependency.jobId)))
            if let step = dependency.stepId { detail.append(("dependentStepId", .string(step))) }
        }
        events.append(PlannedEvent(stepId: stepId, event: .holdAdded, from: nil, to: nil, detail: .object(detail), bySystem: false))
    }

    private mutating func releaseLapsedHolds() {
        for index in holds.indices where holds[index].releasedAt == nil {
            if let lapsed = holds[index].lapsedAt { release(index, lapsedAt: lapsed) }
        }
    }

    private mutating func release(_ index: Int, lapsedAt: Double?) {
        guard let id = holds[index].id else { return }
        holds[index].releasedAt = lapsedAt ?? job.now
        holds[index].releasedBy = lapsedAt == nil ? caller.username : nil
        releases.append(HoldRelease(holdId: id, lapsedAt: lapsedAt))
        let reason: JSON = lapsedAt == nil ? "released" : holds[index].kind.isDependency ? "dependency resolved" : "scheduled release"
        events.append(
            PlannedEvent(
                stepId: holds[index].stepId, event: .holdReleased, from: nil, to: nil,
                detail: [
                    "action": "HoldReleased", "holdId": .string(holds[index].publicId),
                    "kind": .string(holds[index].kind.rawValue), "reason": reason,
                ],
                bySystem: lapsedAt != nil))
    }
}
