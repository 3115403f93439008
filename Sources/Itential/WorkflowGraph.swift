import Engine
import JSON

/// One entry of `transitions[from][to]`.
public struct Transition: Sendable, Equatable {
    public enum Kind: String, Sendable { case standard, revert }
    public enum State: String, Sendable, CaseIterable { case success, failure, error, loop }

    public let from: String
    public let to: String
    public let kind: Kind
    public let state: State

    /// `transitions[from][to] = {type, state}`, in document order: the one reading of a
    /// workflow's (and a job's snapshot's) transitions. An entry whose type or state is not one
    /// of the above is returned apart, never guessed at (a workflow with one cannot start).
    static func parse(_ transitions: JSON?) -> (edges: [Transition], invalid: [(from: String, to: String)]) {
        var edges: [Transition] = []
        var invalid: [(from: String, to: String)] = []
        for (from, targets) in transitions?.objectValue ?? [] {
            for (to, edge) in targets.objectValue ?? [] {
                if let kind = edge["type"]?.stringValue.flatMap(Kind.init(rawValue:)),
                    let state = edge["state"]?.stringValue.flatMap(State.init(rawValue:))
                {
                    edges.append(Transition(from: from, to: to, kind: kind, state: state))
                } else {
                    invalid.append((from, to))
                }
            }
        }
        return (edges, invalid)
    }
}

/// An Itential workflow's tasks and transitions, and the checks that decide whether it can be
/// started (a workflow with errors is a draft).
public struct WorkflowGraph: Sendable {
    public static let start = "workflow_start"
    public static let end = "workflow_end"

    /// One validation finding, as Itential stores them on the workflow.
    public struct Issue: Sendable, Equatable {
        public let task: String
        public let message: String
    }

    public let taskKeys: [String]
    public let transitions: [Transition]
    public let errors: [Issue]

    /// Reads `tasks` and `transitions`; what cannot be read becomes an error, never a crash.
    public init(_ workflow: JSON) {
        var errors: [Issue] = []
        let tasks = workflow["tasks"]?.objectValue ?? []
        taskKeys = tasks.map(\.0)
        let known = Set(taskKeys)
        for required in [WorkflowGraph.start, WorkflowGraph.end] where !known.contains(required) {
            errors.append(Issue(task: required, message: "Workflow is missing the \(required) task"))
        }
        for (key, task) in tasks where key != WorkflowGraph.start && key != WorkflowGraph.end {
            errors += WorkflowGraph.check(task: task, key: key)
        }
        let (edges, invalid) = Transition.parse(workflow["transitions"])
        let unreadable = Set(invalid.map { [$0.from, $0.to] })
        for (from, targets) in workflow["transitions"]?.objectValue ?? [] {
            if !known.contains(from) { errors.append(Issue(task: from, message: "Transition from unknown task \(from)")) }
            for to in (targets.objectValue ?? []).map(\.0) {
                if !known.contains(to) {
                    errors.append(Issue(task: from, message: "Transition from \(from) to unknown task \(to)"))
                } else if unreadable.contains([from, to]) {
                    errors.append(
                        Issue(
                            task: from,
                            message: "Transition from \(from) to \(to) needs type standard|revert and state success|failure|error|loop"))
                }
            }
        }
        let transitions = edges.filter { known.contains($0.to) }
        self.transitions = transitions
        if let cycle = WorkflowGraph.standardCycle(transitions) {
            errors.append(Issue(task: cycle, message: "Standard transitions form a cycle through task \(cycle)"))
        }
        if known.contains(WorkflowGraph.start), known.contains(WorkflowGraph.end),
            !WorkflowGraph.reaches(transitions, from: WorkflowGraph.start, to: WorkflowGraph.end)
        {
            errors.append(
                Issue(task: WorkflowGraph.end, message: "Could not find standard transition path between workflow start and task"))
        }
        self.errors = errors
    }

    /// The job variables a workflow reads: its `inputSchema`'s properties and every
    /// `$var.job.<name>` its tasks' incoming variables refer to, sorted.
    public static func jobVariables(_ workflow: JSON) -> [String] {
        var names = Set((workflow["inputSchema"]?["properties"]?.objectValue ?? []).map(\.0))
        func collect(_ value: JSON) {
            if let text = value.stringValue, text.hasPrefix("$var.job.") {
                let name = text.dropFirst("$var.job.".count).prefix { $0 != "." && $0 != "#" }
                if !name.isEmpty { names.insert(String(name)) }
            }
            value.arrayValue?.forEach(collect)
            value.objectValue?.forEach { collect($0.1) }
        }
        for (_, task) in workflow["tasks"]?.objectValue ?? [] { collect(task["variables"]?["incoming"] ?? .null) }
        return names.sorted()
    }

    /// Task ids are 1–4 lowercase hex digits (`$var` references break on anything else).
    public static func isValidTaskKey(_ key: String) -> Bool {
        key == start || key == end
            || ((1...4).contains(key.utf8.count) && key.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) })
    }

    static func check(task: JSON, key: String) -> [Issue] {
        var issues: [Issue] = []
        if !isValidTaskKey(key) {
            issues.append(Issue(task: key, message: "Invalid task id \(key): task ids are 1 to 4 lowercase hexadecimal characters"))
        }
        guard case .object = task else { return issues + [Issue(task: key, message: "Task \(key) must be an object")] }
        if task["name"]?.stringValue?.isEmpty ?? true { issues.append(Issue(task: key, message: "Task \(key) needs a name")) }
        if task["description"]?.stringValue == nil { issues.append(Issue(task: key, message: "Task \(key) needs a description")) }
        let type = task["type"]?.stringValue
        if !["automatic", "operation", "manual"].contains(type ?? "") {
            issues.append(Issue(task: key, message: "Task \(key) type must be automatic, operation or manual"))
        }
        if type == "manual", task["view"]?.stringValue?.isEmpty ?? true {
            issues.append(Issue(task: key, message: "Manual Tasks require 'view' key with path to task view"))
        }
        return issues
    }

    /// A task on a cycle of standard, non-loop transitions, if any.
    static func standardCycle(_ transitions: [Transition]) -> String? {
        var next: [String: [String]] = [:]
        for edge in transitions where edge.kind == .standard && edge.state != .loop { next[edge.from, default: []].append(edge.to) }
        var state: [String: Int] = [:]  // 1: on the current path, 2: done
        // Depth-first with a stack of its own: a chain of 20,000 tasks fits in one request body
        // and would overflow a worker thread's stack as recursion.
        for root in next.keys.sorted() where state[root] == nil {
            state[root] = 1
            var path: [(node: String, nextTarget: Int)] = [(root, 0)]
            while var top = path.popLast() {
                let targets = next[top.node] ?? []
                guard top.nextTarget < targets.count else {
                    state[top.node] = 2
                    continue
                }
                let target = targets[top.nextTarget]
                top.nextTarget += 1
                path.append(top)
                if state[target] == 1 { return target }
                if state[target] == nil {
                    state[target] = 1
                    path.append((target, 0))
                }
            }
        }
        return nil
    }

    static func reaches(_ transitions: [Transition], from start: String, to target: String) -> Bool {
        var next: [String: [String]] = [:]
        for edge in transitions where edge.kind == .standard { next[edge.from, default: []].append(edge.to) }
        var seen: Set<String> = [start]
        var stack = [start]
        while let node = stack.popLast() {
            if node == target { return true }
            for following in next[node] ?? [] where seen.insert(following).inserted { stack.append(following) }
        }
        return false
    }
}
