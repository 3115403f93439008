import Engine
import JSON

/// An Itential job as its routes show it (spec §4.3): the stored snapshot with each task's
/// runtime state, transitions grouped by state, metrics in epoch milliseconds, errors from the
/// job's history.
package enum ItentialJobDocument {
    /// The legacy `/workflow_engine` routes word a stall the old way.
    package enum Dialect {
        case operationsManager
        case legacy
    }

    package static func render(_ job: ItentialJob, _ dialect: Dialect = .operationsManager) -> JSON {
        let document = job.document
        let definitions = document["tasks"]?.objectValue ?? []
        let grouped = groupedTransitions(document["transitions"])
        let finished = job.tasks.filter { $0.status.isFinished }.count
        var fields: [(String, JSON)] = [("_id", .string(job.id))]
        for (key, value) in document.objectValue ?? [] where key != "_id" {
            switch key {
            case "tasks":
                fields.append(
                    (
                        "tasks",
                        .object(
                            definitions.map { key, definition in
                                (key, task(key, definition, job.tasks.first { $0.key == key }, transitions: grouped[key]))
                            })
                    ))
            case "metrics":
                let fromRow = job.rowFields["metrics"]
                var metrics: [(String, JSON)] = [
                    ("start_time", fromRow?["start_time"] ?? .null), ("end_time", fromRow?["end_time"] ?? .null),
                    (
                        "progress",
                        .number(job.status == "complete" ? 1 : job.tasks.isEmpty ? 0 : Double(finished) / Double(job.tasks.count))
                    ),
                    ("user", value["user"] ?? .null),
                ]
                if let owner = fromRow?["owner"] { metrics.append(("owner", owner)) }
                fields.append(("metrics", .object(metrics)))
            case "error":
                fields.append(
                    (
                        "error",
                        .array(
                            job.errors.map { failure in
                                let stall = dialect == .legacy && failure.task == "job"
                                return [
                                    "task": .string(failure.task),
                                    "message": .string(stall ? "No available transitions found from completed task(s)" : failure.message),
                                    "timestamp": .number(failure.at.rounded()),
                                ]
                            })
                    ))
            default:
                fields.append((key, value))
            }
            if key == "type" { fields.append(("status", .string(job.status))) }
        }
        return .object(fields)
    }

    static func task(_ key: String, _ definition: JSON, _ state: ItentialJob.Task?, transitions: JSON?) -> JSON {
        var fields = definition.objectValue ?? []
        guard let state else { return definition }
        fields.append(("status", .string(ItentialTaskStatus.name(state.status))))
        var metrics: [(String, JSON)] = []
        if let started = state.startedAt ?? (state.status.isFinished ? state.finishedAt : nil) {
            metrics.append(("start_time", .number(started.rounded())))
        }
        if let finished = state.finishedAt, state.status.isFinished {
            metrics.append(("end_time", .number(finished.rounded())))
            if let started = state.startedAt { metrics.append(("run_time", .number((finished - started).rounded()))) }
        }
        if let finishState = state.finishState, state.status.isFinished { metrics.append(("finish_state", .string(finishState))) }
        if state.automatic {
            metrics.append(("owner", "Pronghorn"))
        } else if key != WorkflowGraph.start, key != WorkflowGraph.end {
            metrics.append(("owner", .string(state.ownerAccountId ?? "")))
            metrics.append(("claim_time", state.claimedAt.map { .number($0.rounded()) } ?? .null))
        }
        fields.append(("metrics", .object(metrics)))
        fields.append(("iterations", .array(state.iterations.map(JSON.string))))
        if let transitions { fields.append(("transitions", transitions)) }
        if let children = state.childJobs { fields.append(("childJobs", children)) }
        if let error = state.error { fields.append(("error", .string(error))) }
        return .object(fields)
    }

    /// `transitions[from][to] = {type, state}` regrouped per task as `{state: [{task, type}]}`.
    /// A `loop` transition shows as type `loop`.
    static func groupedTransitions(_ transitions: JSON?) -> [String: JSON] {
        var byTask: [String: [(String, [JSON])]] = [:]
        for from in (transitions?.objectValue ?? []).map(\.0) {
            byTask[from] = [("success", []), ("failure", []), ("error", [])]
        }
        for edge in Transition.parse(transitions).edges {
            let state = edge.state.rawValue
            let entry: JSON = ["task": .string(edge.to), "type": .string(edge.state == .loop ? "loop" : edge.kind.rawValue)]
            if let index = byTask[edge.from]?.firstIndex(where: { $0.0 == state }) {
                byTask[edge.from]?[index].1.append(entry)
            } else {
                byTask[edge.from, default: []].append((state, [entry]))
            }
        }
        return byTask.mapValues { groups in .object(groups.map { ($0.0, .array($0.1)) }) }
    }
}
