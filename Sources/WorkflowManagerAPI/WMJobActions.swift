import Engine
import HTTP
import JSON
import WorkflowManager

/// `POST /{orgId}/{itemId}/jobs/{jobId}/action` — the seed's job action.
enum WMJobActions {
    static let routes: [Route<Session>] = [WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/action", act)]

    static let fields: Set<String> = [
        "type", "stepIds", "holdScheduledRelease", "dependentJobId", "dependentStepId", "answer",
        "webhookConnectionId", "webhookDependencyDetails",
    ]

    static func act(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        let jobId = request.parameter("jobId")
        let body = try WorkflowManagerAPI.objectBody(request)
        let action = try parse(body, jobId: jobId)
        let caller = StepCaller(user)
        switch action.kind {
        case .setCurrentStep: try WorkflowManagerAPI.require(user, anyOf: ["workflowSetStepCurrent"])
        case .hold, .releaseHold: try WorkflowManagerAPI.require(user, anyOf: ["jobUpdateHolds"])
        default: break
        }
        let responses = try WorkflowManagerAPI.translate {
            try session.stepJobs.act(item: item.key, jobId: jobId, action, by: caller)
        }
        guard let responses else { throw HTTPError.badRequest("Job '\(jobId)' does not exist.") }
        return .json([
            "success": .bool(responses.allSatisfy { $0.outcome == .success }),
            "stepResponses": .array(
                responses.map { response in
                    [
                        "stepId": .string(response.stepId), "status": .string(response.outcome.rawValue),
                        "statusDescription": .string(description(response.outcome, action.kind)),
                    ]
                }),
        ])
    }

    /// The body as an action; malformed fields are 400s before anything is read or locked.
    static func parse(_ body: JSON, jobId: String) throws -> StepAction {
        if let unknown = body.objectValue?.first(where: { !fields.contains($0.0) })?.0 {
            throw HTTPError.badRequest("Unknown field '\(unknown)'.", details: ["Valid fields: \(fields.sorted().joined(separator: ", "))"])
        }
        guard let typeName = try body.optionalString("type") else { throw HTTPError.badRequest("type is required.") }
        guard let kind = StepActionKind(rawValue: typeName) else {
            throw HTTPError.badRequest(
                "Unknown action type '\(typeName)'.",
                details: ["type must be one of \(StepActionKind.allCases.map(\.rawValue).joined(separator: ", "))"])
        }
        var action = StepAction(kind: kind, stepIds: try body.optionalStringList("stepIds") ?? [])
        action.answer = try body["answer"].flatMap { value -> String? in
            if value.isNull { return nil }
            guard let text = value.stringValue ?? value.numberText else { throw HTTPError.badRequest("answer must be a string.") }
            return text
        }
        let dependentJobId = try body.optionalString("dependentJobId")
        let dependentStepId = try body.optionalString("dependentStepId")
        switch kind {
        case .setCurrentStep:
            guard action.stepIds.count == 1 else {
                throw HTTPError.badRequest("SetCurrentStep needs exactly one step id in stepIds.")
            }
        case .hold:
            if dependentStepId != nil, dependentJobId == nil {
                throw HTTPError.badRequest("dependentStepId needs dependentJobId.")
            }
            action.holdScheduledRelease = try WorkflowManagerAPI.date(body, "holdScheduledRelease")
            if let release = action.holdScheduledRelease, release <= WallClock.now {
                throw HTTPError.badRequest("holdScheduledRelease must be in the future.")
            }
            if let dependentJobId {
                // Resolved and checked by the engine, inside the action's transaction.
                action.dependency = HoldDependency(jobKey: 0, jobId: dependentJobId, stepId: dependentStepId)
            }
        case .releaseHold:
            if dependentStepId != nil, dependentJobId == nil {
                throw HTTPError.badRequest("dependentStepId needs dependentJobId.")
            }
            action.dependency = dependentJobId.map { HoldDependency(jobKey: 0, jobId: $0, stepId: dependentStepId) }
        default:
            break
        }
        return action
    }

    static func description(_ outcome: StepOutcome, _ kind: StepActionKind) -> String {
        switch outcome {
        case .success:
            switch kind {
            case .run: "The step was started running"
            case .finish: "The step was finished"
            case .stop: "The step was stopped"
            case .setCurrentStep: "The step was set as the current step"
            case .hold: "The hold was added"
            case .releaseHold: "The hold was released"
            case .refreshStatus: "The step status was refreshed"
            }
        case .noActiveStep: "The job has no active step"
        case .alreadyExecuting: "The step is already running"
        case .assignedToDifferentUser: "The step is assigned to a different user"
        case .jobClosed: "The job is closed"
        case .stepNotCurrent: "The step is not a current step"
        case .noStartedStep: "The step has not been started"
        case .noMatchingPaths: "No path matches the step result"
        case .notRunning: "The step is not running"
        case .waitingForInfo: "The step is waiting for information"
        case .held: "The step is on hold"
        case .notHeld: "The step has no hold to release"
        case .stepNotInDiagram: "The step does not exist in the workflow diagram"
        }
    }
}
