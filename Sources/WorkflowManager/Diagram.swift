import Engine
import JSON

/// How a step is carried out. `GP` is automatic work whose result is simulated from
/// `action.args` so that runs are deterministic.
public enum StepActionType: String, Sendable, CaseIterable {
    case manual = "Manual"
    case question = "Question"
    case openApp = "OpenApp"
    case gp = "GP"
}

/// Who a step is assigned to.
public enum Assignment: Sendable, Equatable {
    case unassigned
    case user(String)
    case group(String)

    public var typeName: String {
        switch self {
        case .unassigned: "Unassigned"
        case .user: "User"
        case .group: "Group"
        }
    }

    public var assignee: String? {
        switch self {
        case .unassigned: nil
        case let .user(name), let .group(name): name
        }
    }

    public var userName: String? { if case let .user(name) = self { name } else { nil } }
    public var groupName: String? { if case let .group(name) = self { name } else { nil } }

    /// nil when `type` is not one of User, Group, Unassigned, or User/Group come without a name.
    public init?(type: String, to assignee: String?) {
        switch type {
        case "Unassigned": self = .unassigned
        case "User":
            guard let assignee, !assignee.isEmpty else { return nil }
            self = .user(assignee)
        case "Group":
            guard let assignee, !assignee.isEmpty else { return nil }
            self = .group(assignee)
        default: return nil
        }
    }
}

public struct StepPath: Sendable, Equatable {
    public let nextStep: String
    /// nil or empty: always followed; otherwise followed when it equals the step's result
    /// (a GP step's return code, a Question step's answer).
    public let expression: String?
    /// nil: keep the finished step's assignment ("Maintain Assignment").
    public let assignment: Assignment?
    /// The job status to set when this path is followed.
    public let jobStatus: String?

    public func matches(_ result: String?) -> Bool {
        guard let expression, !expression.isEmpty else { return true }
        return expression == result
    }
}

public struct DiagramStep: Sendable, Equatable {
    public let id: String
    public let name: String
    public let actionType: StepActionType
    /// Runs without a user as soon as it becomes current.
    public let automatic: Bool
    /// Running it finishes it too (Manual, OpenApp, GP).
    public let proceedNext: Bool
    /// May be finished without having been run.
    public let canSkip: Bool
    /// GP: the simulated return code (default `Success`), or a failure message.
    public let returnCode: String
    public let failure: String?
    public let paths: [StepPath]
}

/// A Workflow Manager diagram as the engine runs it: steps by id, and the steps each can reach.
public struct Diagram: Sendable {
    public let document: JSON
    public let name: String
    public let initialStepId: String
    public let steps: [DiagramStep]
    private let index: [String: Int]
    /// For each step, every step reachable from it along paths (excluding itself unless in a cycle).
    private let reachable: [String: Set<String>]

    public func step(_ id: String) -> DiagramStep? { index[id].map { steps[$0] } }

    public func canReach(from start: String, to target: String) -> Bool {
        reachable[start]?.contains(target) ?? false
    }

    /// Steps that more than one path leads to (joins wait for every branch that can still arrive).
    public func incomingPathCount(_ id: String) -> Int {
        steps.reduce(0) { count, step in count + step.paths.filter { $0.nextStep == id }.count }
    }

    /// The initial step: the one named, else (the ArcGIS clients send "") the one step no path
    /// leads to, else the first.
    static func initialStep(_ named: String?, of steps: [DiagramStep]) throws(EngineError) -> String {
        if let named, !named.isEmpty { return named }
        let targets = Set(steps.flatMap { $0.paths.map(\.nextStep) })
        let sources = steps.filter { !targets.contains($0.id) }
        return sources.count == 1 ? sources[0].id : steps[0].id
    }

    /// Steps one diagram may have: which steps each reaches is kept per step (V² at most).
    public static let maxSteps = 1000

    /// Parses and checks a diagram document; the message says what is wrong.
    public init(_ document: JSON) throws(EngineError) {
        guard case .object = document else { throw EngineError(.invalid, "The diagram must be a JSON object") }
        guard let name = document["diagramName"]?.stringValue, !name.isEmpty else {
            throw EngineError(.invalid, "diagramName is required")
        }
        guard let stepList = document["steps"]?.arrayValue, !stepList.isEmpty else {
            throw EngineError(.invalid, "steps must be a non-empty array")
        }
        guard stepList.count <= Self.maxSteps else { throw EngineError(.invalid, "A diagram has at most \(Self.maxSteps) steps") }
        var steps: [DiagramStep] = []
        var index: [String: Int] = [:]
        for (position, json) in stepList.enumerated() {
            let step = try Diagram.parseStep(json, position: position)
            guard index[step.id] == nil else { throw EngineError(.invalid, "Step id \(step.id) appears twice") }
            index[step.id] = steps.count
            steps.append(step)
        }
        for step in steps {
            if let dangling = step.paths.first(where: { index[$0.nextStep] == nil }) {
                throw EngineError(.invalid, "Step \(step.id) has a path to unknown step \(dangling.nextStep)")
            }
        }
        let initial = try Diagram.initialStep(document["initialStepId"]?.stringValue, of: steps)
        guard index[initial] != nil else { throw EngineError(.invalid, "initialStepId \(initial) is not a step of the diagram") }
        self.document = document
        self.name = name
        self.initialStepId = initial
        self.steps = steps
        self.index = index
        reachable = Diagram.reachability(steps)
    }

    static func parseStep(_ json: JSON, position: Int) throws(EngineError) -> DiagramStep {
        guard let id = json["id"]?.stringValue, !id.isEmpty, id.utf8.count <= 100 else {
            throw EngineError(.invalid, "steps[\(position)].id must be a non-empty string")
        }
        let typeName = json["action"]?["actionType"]?.stringValue ?? StepActionType.manual.rawValue
        guard let type = StepActionType(rawValue: typeName) else {
            throw EngineError(
                .invalid, "Step \(id): actionType must be one of \(StepActionType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let args = json["action"]?["args"]
        var paths: [StepPath] = []
        for (number, path) in (json["paths"]?.arrayValue ?? []).enumerated() {
            guard let next = path["nextStep"]?.stringValue else {
                throw EngineError(.invalid, "Step \(id): paths[\(number)].nextStep must be a step id")
            }
            var assignment: Assignment?
            if let type = path["assignedType"]?.stringValue {
                guard let parsed = Assignment(type: type, to: path["assignedTo"]?.stringValue) else {
                    throw EngineError(.invalid, "Step \(id): paths[\(number)] has an invalid assignedType/assignedTo")
                }
                assignment = parsed
            }
            let expression = path["expression"].flatMap { $0.stringValue ?? $0.numberText }
            paths.append(
                StepPath(
                    nextStep: next, expression: expression, assignment: assignment,
                    jobStatus: path["status"]?.stringValue))
        }
        return DiagramStep(
            id: id, name: json["name"]?.stringValue ?? id, actionType: type,
            automatic: json["automatic"]?.boolValue ?? false, proceedNext: json["proceedNext"]?.boolValue ?? false,
            canSkip: json["canSkip"]?.boolValue ?? false,
            returnCode: args?["returnCode"].flatMap { $0.stringValue ?? $0.numberText } ?? "Success",
            failure: args?["error"]?.stringValue, paths: paths)
    }

    static func reachability(_ steps: [DiagramStep]) -> [String: Set<String>] {
        var next: [String: [String]] = [:]
        for step in steps { next[step.id] = step.paths.map(\.nextStep) }
        var result: [String: Set<String>] = [:]
        for step in steps {
            var seen: Set<String> = []
            var stack = next[step.id] ?? []
            while let id = stack.popLast() {
                guard seen.insert(id).inserted else { continue }
                stack += next[id] ?? []
            }
            result[step.id] = seen
        }
        return result
    }
}
