import Engine
import JSON

/// How an Itential job moves on (spec §2.3–2.4). A task runs once every task with a standard
/// transition into it has finished or is dead, and at least one of those transitions was taken
/// (its state is the predecessor's finish state); with none taken it is dead. Forks take every
/// matching transition; joins wait for all branches. Reaching `workflow_end` completes the
/// job; running out of work before that stalls it in `error`. A revert transition whose state a
/// task finished in runs the job again from its target (spec §2.6), as an operator's retry,
/// revert or continue does.
public struct ItentialFlow: JobFlow {
    public init() {}

    public func start(_ tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] {
        var run = Scheduling(tasks, transitions: job["transitions"])
        guard let start = run.tasks[WorkflowGraph.start] else {
            return [.finishJob(status: "error", error: "Job has no workflow_start task")]
        }
        run.complete(start.id, key: WorkflowGraph.start, state: "success")
        return run.schedule()
    }

    public func after(_ finished: TaskSnapshot, error: String?, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] {
        var run = Scheduling(tasks, transitions: job["transitions"])
        for (target, state) in run.reverts[finished.key] ?? [] where state == finished.finishState {
            run.restart(from: target)
        }
        return run.schedule()
    }

    public func rerun(from key: String, tasks: [TaskSnapshot], job: JSON) -> [FlowDecision] {
        var run = Scheduling(tasks, transitions: job["transitions"])
        run.restart(from: key)
        return run.schedule()
    }

    /// The job's tasks as the decisions so far leave them.
    struct Scheduling {
        var tasks: [String: (id: Int64, status: TaskStatus, finishState: String?)]
        let order: [String]
        /// Standard transitions into each task: (from, state).
        let incoming: [String: [(String, String)]]
        let outgoing: [String: [(String, String)]]
        /// Revert transitions out of each task: (to, state).
        let reverts: [String: [(String, String)]]
        var decisions: [FlowDecision] = []

        init(_ snapshots: [TaskSnapshot], transitions: JSON?) {
            tasks = Dictionary(uniqueKeysWithValues: snapshots.map { ($0.key, ($0.id, $0.status, $0.finishState)) })
            order = snapshots.map(\.key)
            var incoming: [String: [(String, String)]] = [:]
            var outgoing: [String: [(String, String)]] = [:]
            var reverts: [String: [(String, String)]] = [:]
            for edge in Transition.parse(transitions).edges {
                switch edge.kind {
                case .revert:
                    reverts[edge.from, default: []].append((edge.to, edge.state.rawValue))
                case .standard:
                    incoming[edge.to, default: []].append((edge.from, edge.state.rawValue))
                    outgoing[edge.from, default: []].append((edge.to, edge.state.rawValue))
                }
            }
            self.incoming = incoming
            self.outgoing = outgoing
            self.reverts = reverts
        }

        /// Runs `key` again as a new iteration: it and every task its standard transitions lead
        /// to that has finished or died go back to not reached, so they decide again.
        mutating func restart(from key: String) {
            guard let target = tasks[key] else { return }
            var reached: Set<String> = [key]
            var queue = [key]
            while let next = queue.popLast() {
                for (to, _) in outgoing[next] ?? [] where reached.insert(to).inserted { queue.append(to) }
            }
            for task in order where reached.contains(task) {
                guard let state = tasks[task], state.status.isFinished else { continue }
                tasks[task] = (state.id, .pending, nil)
                decisions.append(.reset(taskId: state.id))
            }
            tasks[key] = (target.id, .ready, nil)
            decisions.append(.makeReady(taskId: target.id))
        }

        mutating func complete(_ id: Int64, key: String, state: String) {
            tasks[key] = (id, .succeeded, state)
            decisions.append(.complete(taskId: id, finishState: state))
        }

        func isFinished(_ key: String) -> Bool {
            guard let status = tasks[key]?.status else { return true }
            return status == .succeeded || status == .failed || status == .canceled
        }

        /// Whether a transition has been decided: its source finished or died. A `forEach` that
        /// finished `loop` has decided only its loop transitions; the others wait for its last round.
        func isResolved(from: String, state: String) -> Bool {
            if tasks[from]?.status == .skipped { return true }
            return isFinished(from) && (tasks[from]?.finishState != "loop" || state == "loop")
        }

        /// Runs each `forEach` whose loop body has no work left again, for its next element.
        mutating func nextLoopRounds() -> Bool {
            var restarted = false
            for key in order where tasks[key]?.status == .succeeded && tasks[key]?.finishState == "loop" {
                var body: Set<String> = []
                var queue = (outgoing[key] ?? []).filter { $0.1 == "loop" }.map(\.0)
                while let next = queue.popLast() {
                    guard next != key, body.insert(next).inserted else { continue }
                    queue += (outgoing[next] ?? []).map(\.0)
                }
                // A body still at work, or stuck on an error nothing handles (the job stalls), keeps the loop.
                guard !body.contains(where: { [.ready, .running, .waiting].contains(tasks[$0]?.status) || isUnhandledFailure($0) }) else {
                    continue
                }
                restart(from: key)
                restarted = true
            }
            return restarted
        }

        func isUnhandledFailure(_ key: String) -> Bool {
            tasks[key]?.status == .failed && !(outgoing[key] ?? []).contains { isTaken(from: key, state: $0.1) }
        }

        func isTaken(from: String, state: String) -> Bool {
            guard let task = tasks[from], task.status == .succeeded || task.status == .failed else { return false }
            return task.finishState == state
        }

        mutating func schedule() -> [FlowDecision] {
            var changed = true
            while changed {
                changed = false
                for key in order where tasks[key]?.status == .pending {
                    guard let task = tasks[key], let edges = incoming[key], !edges.isEmpty else { continue }
                    guard edges.allSatisfy({ isResolved(from: $0.0, state: $0.1) }) else { continue }
                    changed = true
                    guard edges.contains(where: { isTaken(from: $0.0, state: $0.1) }) else {
                        tasks[key] = (task.id, .skipped, nil)
                        decisions.append(.skip(taskId: task.id))
                        continue
                    }
                    if key == WorkflowGraph.end {
                        complete(task.id, key: key, state: "success")
                        return decisions + [.finishJob(status: "complete", error: nil)]
                    }
                    tasks[key] = (task.id, .ready, nil)
                    decisions.append(.makeReady(taskId: task.id))
                }
                changed = nextLoopRounds() || changed
            }
            let working = tasks.values.contains { [.ready, .running, .waiting].contains($0.status) }
            if !working, tasks[WorkflowGraph.end]?.status != .succeeded {
                return decisions + [.finishJob(status: "error", error: stallMessage())]
            }
            return decisions
        }

        /// Itential's wording, naming each finished task none of whose transitions was taken.
        func stallMessage() -> String {
            let stuck = order.filter { key in
                key != WorkflowGraph.end && isFinished(key) && tasks[key]?.status != .canceled
                    && !(outgoing[key] ?? []).contains { isTaken(from: key, state: $0.1) }
            }
            let names = stuck.isEmpty ? "No task" : stuck.joined(separator: ", ")
            return "Job has no available transitions. \(names) could have led to the workflow end task, but did not. "
                + "These tasks performed in a way that the end of the workflow could not be reached."
        }
    }
}
