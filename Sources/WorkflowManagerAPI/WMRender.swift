import Engine
import JSON
import WorkflowManager

/// Jobs, steps, holds and history entries in Workflow Manager's field names.
enum WMRender {
    static func job(_ job: StepJob, holds withHolds: Bool, extendedProperties withProperties: Bool) -> JSON {
        let document = job.document
        func field(_ key: String) -> JSON { document[key] ?? .null }
        var fields: [(String, JSON)] = [
            ("jobId", .string(job.publicId)), ("jobName", .string(job.name)),
            ("jobTemplateId", field("jobTemplateId")), ("jobTemplateName", field("jobTemplateName")),
            ("diagramId", field("diagramId")), ("diagramVersion", .number(job.diagramVersion)), ("diagramName", field("diagramName")),
            ("description", field("description")), ("notes", field("notes")), ("priority", field("priority")),
            ("percentComplete", field("percentComplete")), ("jobStatus", field("jobStatus")),
            ("ownedBy", .string(job.ownedBy)), ("createdBy", .string(job.createdBy)),
            ("createdDate", .string(Timestamp.format(job.createdAt))), ("startDate", field("startDate")),
            ("startedDate", .string(job.startedAt.map(Timestamp.format))), ("dueDate", field("dueDate")),
            ("endDate", .string(job.isClosed ? job.endedAt.map(Timestamp.format) : nil)), ("parentJob", field("parentJob")),
            ("closed", .bool(job.isClosed)), ("archived", false), ("hasLocation", .bool(document["location"] != nil)),
            ("currentSteps", .array(currentSteps(of: job))),
            ("activeVersions", []),
        ]
        if withHolds { fields.append(("holds", .array(job.holds.map { hold($0, jobId: job.publicId) }))) }
        if withProperties { fields.append(("extendedProperties", extendedProperties(document["extendedProperties"]))) }
        return .object(fields)
    }

    /// A closed job has none.
    static func currentSteps(of job: StepJob) -> [JSON] {
        job.isClosed ? [] : job.steps.filter(\.isCurrent).map { currentStep($0, of: job) }
    }

    static func currentStep(_ run: StepRun, of job: StepJob) -> JSON {
        let step = job.diagram.step(run.key)
        let active = job.holds.filter { $0.stepId == run.key && $0.isActive }
        var fields: [(String, JSON)] = [
            ("stepId", .string(run.key)), ("stepName", .string(step?.name ?? run.key)),
            ("assignedType", .string(run.assignment.typeName)),
        ]
        if let assignee = run.assignment.assignee { fields.append(("assignedTo", .string(assignee))) }
        fields += [
            ("canSkip", .bool(step?.canSkip ?? false)),
            ("manualHold", .bool(active.contains { !$0.kind.isDependency })),
        ]
        if let release = active.compactMap(\.scheduledRelease).max() {
            fields.append(("holdScheduledRelease", .string(Timestamp.format(release))))
        }
        fields += [("dependencies", .bool(active.contains { $0.kind.isDependency })), ("stepStatus", .string(stepStatus(run.status)))]
        return .object(fields)
    }

    /// The run state a current step shows (a Flowgate extension of CurrentStep).
    static func stepStatus(_ status: TaskStatus) -> String {
        switch status {
        case .ready, .pending: "Ready"
        case .running: "Running"
        case .paused: "Paused"
        case .canceled: "Cancelled"
        case .waiting: "WaitingForInfo"
        case .failed: "Error"
        case .succeeded, .skipped: "Finished"
        }
    }

    static func hold(_ hold: StepHold, jobId: String) -> JSON {
        var fields: [(String, JSON)] = [
            ("jobId", .string(jobId)), ("stepId", .string(hold.stepId)), ("holdId", .string(hold.publicId)),
            ("setBy", .string(hold.setBy)), ("setDate", .string(Timestamp.format(hold.setAt))),
        ]
        if let release = hold.scheduledRelease { fields.append(("scheduledRelease", .string(Timestamp.format(release)))) }
        if let released = hold.releasedAt {
            fields.append(("releasedBy", .string(hold.releasedBy)))
            fields.append(("releasedDate", .string(Timestamp.format(released))))
        }
        if let job = hold.dependentJobId { fields.append(("dependentJobId", .string(job))) }
        if let step = hold.dependentStepId { fields.append(("dependentStepId", .string(step))) }
        return .object(fields)
    }

    /// `[{"identifier": "table.property", "value"}]` grouped as `[{"tableName", "properties": [{"propertyName", "value"}]}]`.
    static func extendedProperties(_ list: JSON?) -> JSON {
        var tables: [(String, [JSON])] = []
        for entry in list?.arrayValue ?? [] {
            guard let identifier = entry["identifier"]?.stringValue, let dot = identifier.firstIndex(of: ".") else { continue }
            let table = String(identifier[..<dot])
            let property: JSON = [
                "propertyName": .string(String(identifier[identifier.index(after: dot)...])), "value": entry["value"] ?? .null,
            ]
            if let index = tables.firstIndex(where: { $0.0 == table }) {
                tables[index].1.append(property)
            } else {
                tables.append((table, [property]))
            }
        }
        return .array(tables.map { ["tableName": .string($0.0), "properties": .array($0.1)] })
    }

    /// History rows as Workflow Manager's JobHistory (the action word is kept in each row's detail).
    static func history(_ entry: StepJobHistoryEntry, jobId: String) -> JSON {
        var fields: [(String, JSON)] = [("date", .string(entry.date)), ("jobId", .string(jobId))]
        if let step = entry.stepId { fields.append(("stepId", .string(step))) }
        fields += [("username", .string(entry.username)), ("action", entry.detail["action"] ?? .string(historyAction(entry)))]
        if let result = entry.detail["result"] { fields.append(("result", result)) }
        return .object(fields)
    }

    /// Workflow Manager's action word for a history row written without one.
    static func historyAction(_ entry: StepJobHistoryEntry) -> String {
        switch entry.event {
        case "job_created": "Created"
        case "job_deleted": "Deleted"
        case "job_updated": "Updated"
        case "job_status_changed": entry.to == "closed" ? "Closed" : "Reopened"
        case "job_assigned", "task_assigned": "Reassigned"
        case "task_started": "Started"
        case "task_finished": "Finished"
        case "task_failed": "Error"
        case "task_ready": "Activated"
        case "task_deactivated": "Deactivated"
        case "hold_added": "Held"
        case "hold_released": "HoldReleased"
        default: "Updated"
        }
    }

    static func searchValue(_ value: String?, _ field: JobField) -> JSON {
        guard let value else { return .null }
        switch field.kind {
        case .integer, .double: return Double(value) != nil ? .number(value) : .string(value)
        case .string, .dateTime: return .string(value)
        }
    }
}
