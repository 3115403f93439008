import Engine
import JSON

/// How far `childJob` may go: how deep child jobs nest (a job's `ancestors`), and how many
/// children one task may start.
public struct ChildJobLimits: Sendable {
    public var depth: Int
    public var childrenPerTask: Int

    public static let defaults = ChildJobLimits(depth: 10, childrenPerTask: 100)

    public init(depth: Int, childrenPerTask: Int) {
        self.depth = depth
        self.childrenPerTask = childrenPerTask
    }
}

/// `childJob` (spec §2.7): starts jobs of another workflow as children of the task and waits for
/// them. Single: one child with the resolved `variables`. Loop (`data_array` is an array): one
/// child per element, all at once (`parallel`) or each after the previous ended (`sequential`).
/// The task succeeds with `job_details` once every child is complete, and errors when one ends
/// in error or is canceled. A workflow may start itself, so nesting and fan-out are bounded.
struct ItentialChildJobs: TaskKind {
    let name = ItentialTasks.prefix + "childJob"
    let limits: ChildJobLimits

    func run(_ context: TaskContext) -> TaskOutcome {
        ItentialTasks.failing(context) {
            let incoming = try ItentialTasks.Incoming(context)
            let elements = incoming["data_array"]?.arrayValue
            let children = context.task.children
            if let ended = children.first(where: { $0.status != "complete" }) {
                throw ItentialTasks.Failure(message: "Child job \(ended.id) ended \(ended.status)")
            }
            let wanted = elements?.count ?? 1
            guard wanted <= limits.childrenPerTask else {
                throw ItentialTasks.Failure(
                    message:
                        "Error starting child job: data_array has \(wanted) elements, more than the \(limits.childrenPerTask) children a task may start"
                )
            }
            let depth = (context.task.job["ancestors"]?.arrayValue?.count ?? 0) + 1
            guard depth <= limits.depth else {
                throw ItentialTasks.Failure(
                    message: "Error starting child job: child jobs may nest \(limits.depth) deep, and this job is at depth \(depth - 1)")
            }
            if children.count >= wanted {
                return ItentialTasks.succeeded(
                    ItentialTasks.Result(outputs: [("job_details", Self.details(children, loop: elements != nil))]), context)
            }
            let next = incoming["loopType"]?.stringValue == "sequential" ? children.count..<children.count + 1 : children.count..<wanted
            return .spawned(try next.map { try child(index: elements == nil ? nil : $0, element: elements?[$0], incoming, context) })
        }
    }

    /// The child's variables and status; a loop's are listed with their element index.
    static func details(_ children: [ChildJob], loop: Bool) -> JSON {
        func entry(_ child: ChildJob, _ index: Int?) -> JSON {
            .object(
                [("status", .string(child.status))] + (index.map { [("childJobLoopIndex", .number($0))] } ?? [])
                    + (child.variables.objectValue ?? []))
        }
        return loop ? ["loop": .array(children.enumerated().map { entry($1, $0) })] : children.first.map { entry($0, nil) } ?? [:]
    }

    func child(index: Int?, element: JSON?, _ incoming: ItentialTasks.Incoming, _ context: TaskContext) throws -> NewJob {
        let workflowName = incoming["workflow"]?.stringValue ?? ""
        guard let (rowId, workflow) = try context.task.workflow(workflowName) else {
            throw ItentialTasks.Failure(message: "Error starting child job: Cannot find workflow \(workflowName)")
        }
        var variables = (incoming["variables"]?.objectValue ?? []).map { ($0.0, incoming.reference($0.1)) }
        if let element {
            guard let members = element.objectValue else {
                throw ItentialTasks.Failure(message: "Error starting child job: data_array element \(index ?? 0) is not an object")
            }
            variables = variables.filter { name, _ in !members.contains { $0.0 == name } } + members
        }
        if let refusal = ItentialNewJob.refusal(workflow, name: workflowName, variables: .object(variables)) {
            throw ItentialTasks.Failure(message: "Error starting child job: \(refusal.message)")
        }
        let job = context.task.job
        let parent = ItentialNewJob.Parent(
            job: context.jobVariables["_id"]?.stringValue ?? "",
            task: context.task.key, iteration: context.task.iteration, element: index,
            ancestors: job["ancestors"]?.arrayValue ?? [])
        let initiator = ItentialNewJob.Initiator(
            accountId: job["metrics"]?["user"]?.stringValue ?? "",
            username: context.jobVariables["initiator"]?.stringValue ?? "")
        return ItentialNewJob.make(
            id: ItentialNewJob.objectId(), workflowRowId: rowId, workflow: workflow,
            options: ["description": .string("Child job of \(parent.job)")], variables: .object(variables),
            initiator: initiator, parent: parent)
    }
}
