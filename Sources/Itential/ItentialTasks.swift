import Engine
import JSON
import JSONSchema

/// The built-in WorkFlowEngine tasks the runner executes (spec §1.5), and how a task of a job
/// is stored: its kind, and whether the runner or a person carries it out.
package enum ItentialTasks {
    static let prefix = "itential:"
    /// Tasks of other applications and adapters: Flowgate has none, so they error.
    static let unavailable = "itential:unavailable"
    static let manual = "itential:manual"
    static let marker = "itential:marker"

    package static func kinds(_ childJobs: ChildJobLimits) -> [any TaskKind] {
        [
            Builtin("stub", stub), Builtin("newVariable", newVariable), Builtin("query", query),
            Builtin("evaluation", evaluation), Builtin("merge") { try merge($0, deep: false) },
            Builtin("deepmerge") { try merge($0, deep: true) }, Unavailable(), Delay(), ItentialChildJobs(limits: childJobs),
            Builtin("forEach", forEach),
        ]
    }

    /// The built-in tasks the runner knows, by stored kind.
    static let builtinKinds = Set(kinds(.defaults).map(\.name))

    /// The stored kind of a workflow task, and whether the runner runs it.
    static func kind(of key: String, _ task: JSON) -> (kind: String, automatic: Bool) {
        if key == WorkflowGraph.start || key == WorkflowGraph.end { return (marker, false) }
        if task["type"]?.stringValue == "manual" { return (manual, false) }
        let name = task["name"]?.stringValue ?? ""
        let builtin = task["app"]?.stringValue == "WorkFlowEngine" && builtinKinds.contains(prefix + name)
        return (builtin ? prefix + name : unavailable, true)
    }

    /// A task's result before the runner stores it.
    struct Result {
        var outputs: [(String, JSON)]
        var finishState = "success"
        var jobVariables: [(String, JSON)] = []
        /// What the task reports when it finishes `error` (nil: its outputs).
        var error: JSON? = nil
    }

    struct Failure: Error {
        let message: String
    }

    /// A built-in task: resolves `$var` references in its incoming variables, runs, and writes
    /// outgoing variables mapped to `$var.job.<name>` through to the job.
    struct Builtin: TaskKind {
        let name: String
        let body: @Sendable (Incoming) throws -> Result

        init(_ method: String, _ body: @escaping @Sendable (Incoming) throws -> Result) {
            name = ItentialTasks.prefix + method
            self.body = body
        }

        func run(_ context: TaskContext) -> TaskOutcome {
            ItentialTasks.outcome(context) { try body(try Incoming(context)) }
        }
    }

    /// Runs a task's body: its outputs, with those mapped to `$var.job.<name>` written through
    /// to the job, or its failure as the task's error.
    static func outcome(_ context: TaskContext, _ body: () throws -> Result) -> TaskOutcome {
        failing(context) { succeeded(try body(), context) }
    }

    /// A task's result as the runner stores it: outgoing variables mapped to `$var.job.<name>`
    /// are written through to the job.
    static func succeeded(_ result: Result, _ context: TaskContext) -> TaskOutcome {
        if result.finishState == "error" { return erred(result.error ?? .object(result.outputs), context) }
        var jobVariables = result.jobVariables
        for (output, target) in context.input["variables"]?["outgoing"]?.objectValue ?? [] {
            guard let reference = target.stringValue, reference.hasPrefix("$var.job.") else { continue }
            let value = result.outputs.first { $0.0 == output }?.1 ?? .null
            jobVariables.append((String(reference.dropFirst("$var.job.".count)), value))
        }
        return .succeeded(
            .object(result.outputs), finishState: result.finishState,
            jobVariables: jobVariables.isEmpty ? nil : .object(jobVariables))
    }

    /// Runs a task's body; what it throws becomes the task's error.
    static func failing(_ context: TaskContext, _ body: () throws -> TaskOutcome) -> TaskOutcome {
        do {
            return try body()
        } catch let failure as Failure {
            return erred(.string(failure.message), context)
        } catch {
            return erred(.string("\(error)"), context)
        }
    }

    /// A task that finished `error` (spec §2.5): the error is the task's and the job's, and
    /// is copied to the job variable its `variables.error` names as `$var.job.<name>`.
    static func erred(_ error: JSON, _ context: TaskContext) -> TaskOutcome {
        let message = error.stringValue ?? error.serialized
        guard let reference = context.input["variables"]?["error"]?.stringValue, reference.hasPrefix("$var.job."),
            reference.count > "$var.job.".count
        else { return .failed(message) }
        return .failed(message, jobVariables: .object([(String(reference.dropFirst("$var.job.".count)), error)]))
    }

    /// `delay`: holds the task for `time` seconds, then succeeds. The runner parks it meanwhile
    /// instead of sleeping in one of its threads.
    struct Delay: TaskKind {
        let name = ItentialTasks.prefix + "delay"

        func run(_ context: TaskContext) -> TaskOutcome {
            ItentialTasks.failing(context) {
                let time = try Incoming(context)["time"]
                guard let seconds = time?.doubleValue ?? time?.stringValue.flatMap(Double.init), seconds >= 0, seconds <= 86_400 else {
                    throw Failure(message: "delay needs a time of 0 to 86400 seconds")
                }
                if seconds > 0, !context.task.woken { return .sleeping(seconds: seconds) }
                return ItentialTasks.succeeded(Result(outputs: [("time_in_milliseconds", .number((seconds * 1000).rounded()))]), context)
            }
        }
    }

    struct Unavailable: TaskKind {
        let name = ItentialTasks.unavailable
        func run(_ context: TaskContext) -> TaskOutcome {
            let app = context.input["app"]?.stringValue ?? "unknown"
            return ItentialTasks.erred(.string("App or adapter \(app) is not available"), context)
        }
    }

    /// A task's incoming variables with `$var.job.<name>` and `$var.<task>.<output>` resolved
    /// where they are a whole top-level value (spec §1.4).
    package struct Incoming {
        package let values: JSON
        let context: TaskContext

        package init(_ context: TaskContext) throws {
            self.context = context
            var resolved: [(String, JSON)] = []
            for (key, value) in context.input["variables"]?["incoming"]?.objectValue ?? [] {
                resolved.append((key, try Incoming.resolve(value, key: key, context)))
            }
            values = .object(resolved)
        }

        subscript(key: String) -> JSON? { values[key] }

        static func resolve(_ value: JSON, key: String, _ context: TaskContext) throws -> JSON {
            guard let text = value.stringValue, text.hasPrefix("$var.") else { return value }
            let parts = text.split(separator: "#", maxSplits: 1)
            let path = parts[0].dropFirst("$var.".count).split(separator: ".", maxSplits: 1).map(String.init)
            guard path.count == 2 else { return value }
            var found = path[0] == "job" ? context.jobVariables[path[1]] : context.upstream[path[0]]?[path[1]]
            if parts.count == 2 {
                found = found.flatMap { pointer($0, String(parts[1])) }
                guard found != nil else { throw Failure(message: "Query failed for task incoming variables: \(key)") }
            }
            return found ?? .null
        }

        /// A JSON pointer such as `/a/0/b`.
        static func pointer(_ value: JSON, _ path: String) -> JSON? {
            var current: JSON? = value
            for token in path.split(separator: "/") {
                let name = String(token).replacing("~1", with: "/").replacing("~0", with: "~")
                if let index = Int(name), let element = current?[index] {
                    current = element
                } else {
                    current = current?[name]
                }
            }
            return current
        }

        /// `{"task": "job" | "static" | <taskId>, "variable" | "value": …}` (merge, evaluation).
        func reference(_ value: JSON?) -> JSON {
            guard let value, let source = value["task"]?.stringValue else { return value ?? .null }
            let target = value["variable"] ?? value["value"] ?? .null
            switch source {
            case "static": return target
            case "job": return target.stringValue.flatMap { context.jobVariables[$0] } ?? .null
            default: return target.stringValue.flatMap { context.upstream[source]?[$0] } ?? .null
            }
        }
    }

    // MARK: The tasks

    static func stub(_ incoming: Incoming) throws -> Result {
        let response = incoming["response"] ?? .null
        return Result(outputs: [("response", response)], finishState: incoming["type"]?.stringValue ?? "success", error: response)
    }

    /// `forEach`: each run hands out the next element of `data_array` as `current_item` and
    /// finishes `loop` (the flow runs the loop body, then this task again); past the last
    /// element it finishes `success`.
    static func forEach(_ incoming: Incoming) throws -> Result {
        guard let items = incoming["data_array"]?.arrayValue else { throw Failure(message: "forEach needs data_array to be an array") }
        let index = incoming.context.task.pastIterations
        guard index < items.count else { return Result(outputs: [("current_item", .null)]) }
        return Result(outputs: [("current_item", items[index])], finishState: "loop")
    }

    static func newVariable(_ incoming: Incoming) throws -> Result {
        guard let name = incoming["name"]?.stringValue, !name.isEmpty else { throw Failure(message: "newVariable needs a name") }
        let value = incoming["value"] ?? .null
        return Result(outputs: [("value", value)], jobVariables: [(name, value)])
    }

    /// `query` is a dot path (`a.b[0].c`) into `obj`; a missing value is `failure` unless
    /// `pass_on_null`.
    static func query(_ incoming: Incoming) throws -> Result {
        var current: JSON? = incoming["obj"]
        for part in (incoming["query"]?.stringValue ?? "").split(separator: ".") {
            var name = Substring(part)
            var indexes: [Int] = []
            while let open = name.lastIndex(of: "["), name.last == "]",
                let index = Int(name[name.index(after: open)..<name.index(before: name.endIndex)])
            {
                indexes.insert(index, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty { current = current?[String(name)] }
            for index in indexes { current = current?[index] }
        }
        let found = current.flatMap { $0.isNull ? nil : $0 }
        let passOnNull = incoming["pass_on_null"]?.boolValue ?? false
        return Result(outputs: [("return_data", found ?? .null)], finishState: found != nil || passOnNull ? "success" : "failure")
    }

    static func evaluation(_ incoming: Incoming) throws -> Result {
        let groups = incoming["evaluation_groups"]?.arrayValue ?? []
        var results: [Bool] = []
        for group in groups {
            var values: [Bool] = []
            for test in group["evaluations"]?.arrayValue ?? [] {
                guard
                    let outcome = compare(
                        incoming.reference(test["operand_1"]), test["operator"]?.stringValue ?? "",
                        incoming.reference(test["operand_2"]))
                else {
                    return Result(outputs: [("return_value", false)], finishState: "failure")
                }
                values.append(outcome)
            }
            results.append(group["all_true_flag"]?.boolValue ?? true ? values.allSatisfy { $0 } : values.contains(true))
        }
        let all = incoming["all_true_flag"]?.boolValue ?? true
        let value = all ? results.allSatisfy { $0 } : results.contains(true)
        return Result(outputs: [("return_value", .bool(value))], finishState: value ? "success" : "failure")
    }

    /// nil for an unknown operator.
    static func compare(_ left: JSON, _ op: String, _ right: JSON) -> Bool? {
        switch op {
        case "==": return left == right
        case "!=": return left != right
        case "<", "<=", ">", ">=":
            guard let a = left.doubleValue ?? left.stringValue.flatMap(Double.init),
                let b = right.doubleValue ?? right.stringValue.flatMap(Double.init)
            else { return false }
            return op == "<" ? a < b : op == "<=" ? a <= b : op == ">" ? a > b : a >= b
        case "contains", "!contains":
            let contains: Bool
            if let text = left.stringValue, let pattern = right.stringValue {
                // A pattern too costly to match (see SafePattern) is taken literally, as an invalid one is.
                contains = SafePattern.compile(pattern).map { text.contains($0) } ?? text.contains(pattern)
            } else if let key = right.stringValue, let object = left.objectValue {
                contains = object.contains { $0.0 == key }
            } else {
                contains = left.arrayValue?.contains(right) ?? false
            }
            return op == "contains" ? contains : !contains
        default:
            return nil
        }
    }

    static func merge(_ incoming: Incoming, deep: Bool) throws -> Result {
        var merged: [(String, JSON)] = []
        for item in incoming["data_to_merge"]?.arrayValue ?? [] {
            guard let key = item["key"]?.stringValue else { throw Failure(message: "data_to_merge items need a key") }
            let value = incoming.reference(item["value"])
            if let index = merged.firstIndex(where: { $0.0 == key }) {
                let current = merged[index].1
                if deep, case .object = current, case .object = value {
                    merged[index].1 = deepMerge(current, value)
                } else {
                    // Duplicate keys collect their values in an array.
                    merged[index].1 = .array((current.arrayValue ?? [current]) + [value])
                }
            } else {
                merged.append((key, value))
            }
        }
        return Result(outputs: [("merged_object", .object(merged))])
    }

    static func deepMerge(_ base: JSON, _ other: JSON) -> JSON {
        guard case .object = base, let members = other.objectValue else { return other }
        var result = base
        for (key, value) in members { result = result.setting(key, to: result[key].map { deepMerge($0, value) } ?? value) }
        return result
    }
}
