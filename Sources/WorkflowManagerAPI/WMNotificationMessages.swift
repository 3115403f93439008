import Engine
import Foundation
import JSON
import WorkflowManager

/// One Workflow Manager history row as migration 0019's trigger sends it.
struct WMNotice: Sendable, Equatable {
    let jobId: String
    let stepId: String?
    let event: String
    let to: String?
    let actor: String
    /// Milliseconds since 1970, from the row's `at`.
    let at: Double
    let action: String?
    let error: String?

    init?(payload: String) {
        guard let row = try? JSON.parse(payload), let jobId = row["job"]?.stringValue, let event = row["event"]?.stringValue
        else { return nil }
        self.init(
            jobId: jobId, stepId: row["step"]?.stringValue, event: event, to: row["to"]?.stringValue,
            actor: row["actor"]?.stringValue ?? "", at: row["at"]?.doubleValue ?? 0, action: row["action"]?.stringValue,
            error: row["error"]?.stringValue)
    }

    init(
        jobId: String, stepId: String?, event: String, to: String? = nil, actor: String = "", at: Double = 0,
        action: String? = nil, error: String? = nil
    ) {
        self.jobId = jobId
        self.stepId = stepId
        self.event = event
        self.to = to
        self.actor = actor
        self.at = at
        self.action = action
        self.error = error
    }
}

/// The WebSocket Message API's server messages, `{"msgType", "message": {"jobId", …},
/// "timestamp"}`, made from history rows. Clients finish waiting on a step action when they see
/// its outcome: StepFinished, StepInfoRequired or StepError after Run; StepPaused or
/// StepCancelled after Stop; StepFinished after Finish.
enum WMNotificationMessages {
    /// Whether the messages for `notice` carry the job's state (read from the tables).
    static func needsJob(_ notice: WMNotice) -> Bool {
        ["task_started", "task_finished", "job_status_changed", "job_updated"].contains(notice.event)
    }

    static func messages(for notice: WMNotice, job: StepJob?) -> [JSON] {
        func message(_ type: String, _ fields: [(String, JSON)]) -> JSON {
            envelope(type, [("jobId", .string(notice.jobId))] + fields, timestamp: notice.at)
        }
        let step: JSON = .string(notice.stepId)
        let definition = job.flatMap { job in notice.stepId.flatMap { job.diagram.step($0) } }
        func infoRequired(_ text: String) -> JSON {
            message("StepInfoRequired", [("stepId", step), ("msg", .string(text)), ("msgCode", "InfoRequired")])
        }
        switch (notice.event, notice.action) {
        case ("task_started", _):
            let started = message("StepStarted", [("stepIds", [step])])
            // A step that stays running until its user finishes it (manual work, or a GP step's
            // result to review): the client is told it waits for them.
            guard let definition, !definition.proceedNext, definition.actionType != .question,
                definition.actionType != .gp || definition.failure == nil
            else { return [started] }
            return [started, infoRequired("Finish step '\(definition.name)' when its work is done.")]
        case ("task_status_changed", "InfoRequired"?):
            return [infoRequired("Answer step '\(definition?.name ?? notice.stepId ?? "")'.")]
        case ("task_status_changed", "Paused"?):
            return [message("StepStopping", [("stepId", step)]), message("StepPaused", [("stepId", step)])]
        case ("task_status_changed", "Cancelled"?):
            return [message("StepStopping", [("stepId", step)]), message("StepCancelled", [("stepId", step)])]
        case ("task_failed", _):
            return [
                message("StepError", [("stepId", step), ("msg", .string(notice.error ?? "The step failed.")), ("msgCode", "StepError")])
            ]
        case ("task_finished", _):
            var fields: [(String, JSON)] = [("stepIds", [step])]
            if let job {
                fields.append(("jobStatus", job.document["jobStatus"] ?? .null))
                fields.append(("currentSteps", .array(WMRender.currentSteps(of: job))))
            }
            return [message("StepFinished", fields)]
        case ("task_assigned", _):
            return [message("StepReassigned", [("stepId", step), ("assignedTo", .string(notice.to))])]
        case ("hold_added", _):
            return [message("StepHeld", [("stepId", step), ("setBy", .string(notice.actor))])]
        case ("hold_released", _):
            return [message("StepHoldReleased", [("stepId", step)])]
        case ("job_status_changed", _), ("job_updated", _):
            var properties: [(String, JSON)] = [("closed", .bool(job?.isClosed ?? (notice.to == "closed")))]
            if let status = job?.document["jobStatus"] { properties.append(("jobStatus", status)) }
            return [message("JobUpdated", [("properties", .object(properties))])]
        default:
            return []
        }
    }

    /// The answer to a subscribe: where the job stands.
    static func jobState(_ job: StepJob, now: Date) -> JSON {
        let document = job.document
        let steps: [JSON] = job.steps.map { run in
            [
                "stepId": .string(run.key), "stepName": .string(job.diagram.step(run.key)?.name ?? run.key),
                "status": .string(WMRender.stepStatus(run.status)), "current": .bool(run.isCurrent),
            ]
        }
        return envelope(
            "JobState",
            [
                ("jobId", .string(job.publicId)), ("senderId", .null), ("jobStatus", document["jobStatus"] ?? .null),
                ("closed", .bool(job.isClosed)), ("percentComplete", document["percentComplete"] ?? .null),
                ("diagramId", document["diagramId"] ?? .null), ("diagramVersion", .number(job.diagramVersion)),
                ("jobTemplateName", document["jobTemplateName"] ?? .null), ("currentSteps", .array(WMRender.currentSteps(of: job))),
                ("stepStates", .array(steps)),
            ], timestamp: milliseconds(now))
    }

    static func error(_ text: String, code: String, jobId: String?, now: Date) -> JSON {
        var fields: [(String, JSON)] = [("msg", .string(text)), ("msgCode", .string(code))]
        if let jobId { fields.insert(("jobId", .string(jobId)), at: 0) }
        return envelope("Error", fields, timestamp: milliseconds(now))
    }

    private static func envelope(_ type: String, _ message: [(String, JSON)], timestamp: Double) -> JSON {
        .object([("msgType", .string(type)), ("message", .object(message)), ("timestamp", .number(timestamp))])
    }

    private static func milliseconds(_ date: Date) -> Double { (date.timeIntervalSince1970 * 1000).rounded(.down) }
}
