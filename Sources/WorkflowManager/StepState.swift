import Engine
import JSON

/// One step of a Workflow Manager job: its task row as the planner sees it.
public struct StepRun: Sendable, Equatable {
    public let key: String
    public var status: TaskStatus
    public var isCurrent: Bool
    public var assignment: Assignment
    /// Branches that reached this join step and wait for the others.
    public var arrivals: Int
    /// What the last run produced (a GP return code).
    public var result: String?

    public init(
        key: String, status: TaskStatus, isCurrent: Bool, assignment: Assignment, arrivals: Int = 0,
        result: String? = nil
    ) {
        self.key = key
        self.status = status
        self.isCurrent = isCurrent
        self.assignment = assignment
        self.arrivals = arrivals
        self.result = result
    }

    /// Someone is working on it: a job with such a step is "running".
    public var isExecuting: Bool { status == .running || status == .waiting }
}

public enum HoldKind: String, Sendable {
    case manual
    case scheduled
    case jobDependency = "job_dependency"
    case stepDependency = "step_dependency"

    public var isDependency: Bool { self == .jobDependency || self == .stepDependency }
}

public struct StepHold: Sendable, Equatable {
    /// nil for a hold this plan adds.
    public let id: Int64?
    public let publicId: String?
    public let stepId: String
    public let kind: HoldKind
    public let setBy: String?
    public let setAt: Double
    public let scheduledRelease: Double?
    public let dependentJobId: String?
    /// The engine's key of the dependent job, known for holds a plan adds.
    public let dependentJobKey: Int64?
    public let dependentStepId: String?
    public var releasedBy: String?
    public var releasedAt: Double?
    /// Set when the hold has lapsed without being marked released yet: its scheduled time has
    /// passed or the job or step it waited for is done. The planner releases it first thing.
    public let lapsedAt: Double?

    public init(
        id: Int64?, publicId: String?, stepId: String, kind: HoldKind, setBy: String?, setAt: Double,
        scheduledRelease: Double? = nil, dependentJobId: String? = nil, dependentJobKey: Int64? = nil,
        dependentStepId: String? = nil,
        releasedBy: String? = nil, releasedAt: Double? = nil, lapsedAt: Double? = nil
    ) {
        self.id = id
        self.publicId = publicId
        self.stepId = stepId
        self.kind = kind
        self.setBy = setBy
        self.setAt = setAt
        self.scheduledRelease = scheduledRelease
        self.dependentJobId = dependentJobId
        self.dependentJobKey = dependentJobKey
        self.dependentStepId = dependentStepId
        self.releasedBy = releasedBy
        self.releasedAt = releasedAt
        self.lapsedAt = lapsedAt
    }

    public var isActive: Bool { releasedAt == nil && lapsedAt == nil }
}

/// A Workflow Manager job as loaded under its row lock.
public struct StepJob: Sendable {
    public let id: Int64
    public let publicId: String
    public let name: String
    public let itemKey: Int64
    public let isClosed: Bool
    public let diagram: Diagram
    public let diagramVersion: Int
    public let document: JSON
    public let createdBy: String?
    public let ownedBy: String?
    public let createdAt: Double
    public let startedAt: Double?
    public let endedAt: Double?
    /// In diagram order.
    public let steps: [StepRun]
    public let holds: [StepHold]
    /// The database's clock when the job was read; every time comparison uses it.
    public let now: Double
}

/// Who acts, with what the rules look at.
public struct StepCaller: Sendable {
    public let userId: Int64?
    public let username: String
    public let groups: Set<String>
    public let privileges: Set<String>

    public init(userId: Int64?, username: String, groups: Set<String>, privileges: Set<String>) {
        self.userId = userId
        self.username = username
        self.groups = groups
        self.privileges = privileges
    }

    public init(_ user: User) {
        self.init(userId: user.id, username: user.username, groups: Set(user.groups), privileges: Set(user.privileges))
    }

    public func has(_ privilege: String) -> Bool { privileges.contains(privilege) }
    public var isAdmin: Bool { has("adminBasic") || has("adminAdvanced") }
}

public enum StepActionKind: String, Sendable, CaseIterable {
    case run = "Run"
    case finish = "Finish"
    case stop = "Stop"
    case setCurrentStep = "SetCurrentStep"
    case hold = "Hold"
    case releaseHold = "ReleaseHold"
    case refreshStatus = "RefreshStatus"
}

/// The job (and optionally its step) a dependency hold waits for, resolved by the engine.
public struct HoldDependency: Sendable, Equatable {
    public let jobKey: Int64
    public let jobId: String
    public let stepId: String?

    public init(jobKey: Int64, jobId: String, stepId: String?) {
        self.jobKey = jobKey
        self.jobId = jobId
        self.stepId = stepId
    }
}

public struct StepAction: Sendable {
    public var kind: StepActionKind
    public var stepIds: [String]
    /// Hold: seconds since the epoch.
    public var holdScheduledRelease: Double?
    /// Hold: the resolved dependency. ReleaseHold: only `jobId`/`stepId` are compared.
    public var dependency: HoldDependency?
    /// Finish of a Question step: the answer its paths are matched against.
    public var answer: String?

    public init(
        kind: StepActionKind, stepIds: [String] = [], holdScheduledRelease: Double? = nil,
        dependency: HoldDependency? = nil, answer: String? = nil
    ) {
        self.kind = kind
        self.stepIds = stepIds
        self.holdScheduledRelease = holdScheduledRelease
        self.dependency = dependency
        self.answer = answer
    }
}

/// The per-step answer of an action (the wire's `JobActionStepResponse.status`).
public enum StepOutcome: String, Sendable, CaseIterable {
    case success = "Success"
    case noActiveStep = "NoActiveStep"
    case alreadyExecuting = "AlreadyExecuting"
    case assignedToDifferentUser = "AssignedToDifferentUser"
    case jobClosed = "JobClosed"
    case stepNotCurrent = "StepNotCurrent"
    case noStartedStep = "NoStartedStep"
    case noMatchingPaths = "NoMatchingPaths"
    case notRunning = "NotRunning"
    case waitingForInfo = "WaitingForInfo"
    case held = "Held"
    case notHeld = "NotHeld"
    case stepNotInDiagram = "StepNotInDiagram"
}

public struct StepResponse: Sendable, Equatable {
    public let stepId: String
    public let outcome: StepOutcome
}
