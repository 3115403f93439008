import JSON

/// A task as a flow sees it when deciding what comes next.
public struct TaskSnapshot: Sendable, Equatable {
    public let id: Int64
    public let key: String
    public let position: Int
    public let status: TaskStatus
    public let automatic: Bool
    /// The state a finished task chose (`success`, `failure`, `error`, …).
    public let finishState: String?

    public init(id: Int64, key: String, position: Int, status: TaskStatus, automatic: Bool, finishState: String? = nil) {
        self.id = id
        self.key = key
        self.position = position
        self.status = status
        self.automatic = automatic
        self.finishState = finishState
    }
}

public enum FlowDecision: Sendable, Equatable {
    case makeReady(taskId: Int64)
    /// Never to run (a dead path).
    case skip(taskId: Int64)
    /// Back to not reached, its last result forgotten (a task to be run again).
    case reset(taskId: Int64)
    /// Done without running (a workflow's start and end markers).
    case complete(taskId: Int64, finishState: String)
    case finishJob(status: String, error: String?)
}

/// Decides what happens after a job starts and after each of its tasks finishes. Pure: the
/// engine hands it the job's tasks and document under the job lock and applies the decisions.
public protocol JobFlow: Sendable {
    func start(_ tasks: [TaskSnapshot], job: JSON) -> [FlowDecision]
    func after(_ finished: TaskSnapshot, error: String?, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision]
    /// Runs the job again from one task (an operator's retry, revert or continue).
    func rerun(from key: String, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision]
}

extension JobFlow {
    /// Flows without reruns decide nothing.
    public func rerun(from key: String, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] { [] }
}

/// Tasks run one at a time in `position` order; the first failure stops the job.
public struct SequentialFlow: JobFlow {
    public let completedStatus: String
    public let failedStatus: String

    public init(completedStatus: String, failedStatus: String) {
        self.completedStatus = completedStatus
        self.failedStatus = failedStatus
    }

    public func start(_ tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] {
        guard let first = tasks.min(by: { ($0.position, $0.id) < ($1.position, $1.id) }) else {
            return [.finishJob(status: completedStatus, error: nil)]
        }
        return [.makeReady(taskId: first.id)]
    }

    public func after(_ finished: TaskSnapshot, error: String?, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] {
        if finished.status == .failed { return [.finishJob(status: failedStatus, error: error)] }
        let next = tasks.filter { $0.status == .pending }.min(by: { ($0.position, $0.id) < ($1.position, $1.id) })
        if let next { return [.makeReady(taskId: next.id)] }
        return tasks.allSatisfy({ $0.status.isFinished }) ? [.finishJob(status: completedStatus, error: nil)] : []
    }
}

/// Jobs without tasks whose status only requests change (Scale jobs, claimed and reported on
/// by external workers): nothing happens by itself.
public struct RequestDrivenFlow: JobFlow {
    public init() {}
    public func start(_ tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] { [] }
    public func after(_ finished: TaskSnapshot, error: String?, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] { [] }
}
