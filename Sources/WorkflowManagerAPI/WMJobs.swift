import Engine
import HTTP
import JSON
import WorkflowManager

/// Jobs: create from a template, read, diagram, history, assign a step, manage, search.
enum WMJobs {
    static let routes: [Route<Session>] = [
        WorkflowManagerAPI.underItem("POST", "/jobTemplates/{templateId}/job", create),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}", get),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}/diagram", diagram),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}/history", history),
        WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/{stepId}", assign),
        WorkflowManagerAPI.underItem("POST", "/jobs/manage", manage),
        WorkflowManagerAPI.underItem("POST", "/jobs/search", search),
    ]

    /// What a create-jobs body may carry (`location` and `relatedProperties`, which the ArcGIS
    /// client sends, are refused when set: Flowgate keeps neither at creation).
    static let createFields: Set<String> = [
        "numberOfJobs", "jobId", "jobName", "startDate", "dueDate", "priority", "description", "notes", "ownedBy", "jobStatus",
        "parentJob", "assignedType", "assignedTo", "percentComplete", "extendedProperties", "location", "relatedProperties",
    ]

    static func create(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        try WorkflowManagerAPI.require(user, anyOf: ["jobCreate"])
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(createFields)
        var new = NewStepJobs()
        if let count = body["numberOfJobs"], !count.isNull {
            guard let number = count.intValue else { throw HTTPError.badRequest("numberOfJobs must be an integer.") }
            new.count = number
        }
        new.jobId = try body.optionalString("jobId")
        new.jobName = try body.optionalString("jobName")
        new.startDate = try WorkflowManagerAPI.date(body, "startDate")
        new.dueDate = try WorkflowManagerAPI.date(body, "dueDate")
        new.priority = try body.optionalString("priority")
        new.description = try body.optionalString("description")
        new.notes = try body.optionalString("notes")
        new.ownedBy = try body.optionalString("ownedBy")
        new.jobStatus = try body.optionalString("jobStatus")
        new.parentJob = try body.optionalString("parentJob")
        if let type = try body.optionalString("assignedType") {
            guard let assignment = Assignment(type: type, to: try body.optionalString("assignedTo")) else {
                throw HTTPError.badRequest("assignedType must be User, Group or Unassigned, with assignedTo for User and Group.")
            }
            new.assignment = assignment
        }
        if let percent = body["percentComplete"], !percent.isNull {
            guard let value = percent.doubleValue, (0...100).contains(value) else {
                throw HTTPError.badRequest("percentComplete must be a number from 0 to 100.")
            }
            new.percentComplete = percent
        }
        if let properties = body["extendedProperties"], !properties.isNull {
            new.extendedProperties = try extendedProperties(properties)
        }
        if !(body["location"] ?? .null).isNull || !(body["relatedProperties"] ?? .null).isNull {
            throw HTTPError.badRequest(
                "location and relatedProperties cannot be set at creation; PUT jobs/{jobId}/location sets a location.")
        }
        let templateId = request.parameter("templateId")
        let created = try WorkflowManagerAPI.translate {
            try session.stepJobs.create(item: item.key, templateId: templateId, new, by: user)
        }
        var response: [(String, JSON)] = [("jobIds", .array(created.ids.map(JSON.string)))]
        if created.autoExecuted { response.append(("autoExecuted", true)) }
        return .json(.object(response))
    }

    /// `[{"identifier": "table.property", "value"}]`, checked.
    static func extendedProperties(_ properties: JSON) throws -> JSON {
        guard let list = properties.arrayValue, list.allSatisfy({ $0["identifier"]?.stringValue?.contains(".") == true }) else {
            throw HTTPError.badRequest("extendedProperties must be a list of {\"identifier\": \"table.property\", \"value\"}.")
        }
        return properties
    }

    /// The path's job in the caller's item; 400 when there is none.
    static func job(_ request: Request, _ session: Session, in item: WorkflowItem) throws -> StepJob {
        let id = request.parameter("jobId")
        guard let job = try session.stepJobs.job(item: item.key, id: id) else { throw HTTPError.badRequest("Job '\(id)' does not exist.") }
        return job
    }

    static func get(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let job = try job(request, session, in: caller.item)
        return .json(
            WMRender.job(job, holds: request.queryValue("holds") == "true", extendedProperties: request.queryValue("extProps") == "true"))
    }

    static func diagram(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let job = try job(request, session, in: caller.item)
        let stored = StoredDiagram(id: job.document["diagramId"]?.stringValue ?? "", version: job.diagramVersion, diagram: job.diagram)
        return .json(WMDefinitions.render(stored))
    }

    static func history(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let item = caller.item
        let id = request.parameter("jobId")
        guard let entries = try session.stepJobs.history(item: item.key, id: id) else {
            throw HTTPError.badRequest("Job '\(id)' does not exist.")
        }
        return .json(["jobHistory": .array(entries.map { WMRender.history($0, jobId: id) })])
    }

    static func assign(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["assignedType", "assignedTo"])
        guard let type = try body.optionalString("assignedType"),
            let assignment = Assignment(type: type, to: try body.optionalString("assignedTo"))
        else {
            throw HTTPError.badRequest("assignedType must be User, Group or Unassigned, with assignedTo for User and Group.")
        }
        let jobId = request.parameter("jobId")
        let found = try WorkflowManagerAPI.translate {
            try session.stepJobs.assign(
                item: item.key, jobId: jobId, stepId: request.parameter("stepId"), to: assignment, by: StepCaller(user))
        }
        guard found else { throw HTTPError.badRequest("Job '\(jobId)' does not exist.") }
        return .json(WorkflowManagerAPI.success)
    }

    static func manage(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        let body = try WorkflowManagerAPI.objectBody(request)
        guard let typeName = try body.optionalString("type"), let type = ManageType(rawValue: typeName) else {
            throw HTTPError.badRequest("type must be one of \(ManageType.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        guard let jobIds = try body.optionalStringList("jobIds"), !jobIds.isEmpty else {
            throw HTTPError.badRequest("jobIds must be a non-empty array of job ids.")
        }
        let refusals = try WorkflowManagerAPI.translate {
            try session.stepJobs.manage(item: item.key, type, jobIds: jobIds, by: StepCaller(user))
        }
        guard refusals.isEmpty else { throw HTTPError(400, "\(type.rawValue) was refused; no job was changed.", details: refusals) }
        return .json(WorkflowManagerAPI.success)
    }

    static let defaultFields: [JobField] = [.jobId, .jobName, .priority, .dueDate, .currentStep]

    static func search(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["q", "search", "fields", "displayNames", "sortFields", "start", "num"])
        let q = try body.optionalString("q")
        let text = try body.optionalString("search")
        guard q != nil || text != nil else { throw HTTPError.badRequest("q or search is required.") }
        let condition = try condition(q: q, text: text, user: user)
        // A list, or (as the ArcGIS client documents it) one comma-separated string.
        let named = body["fields"]?.stringValue.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: " ") } }
        let fields = try (named ?? body.optionalStringList("fields") ?? defaultFields.map(\.rawValue)).map(field)
        var sort: [(JobField, ascending: Bool)] = []
        for entry in body["sortFields"]?.arrayValue ?? [] {
            guard let name = entry["field"]?.stringValue else { throw HTTPError.badRequest("sortFields entries need a field.") }
            let order = entry["sortOrder"]?.stringValue ?? "Asc"
            guard order == "Asc" || order == "Desc" else { throw HTTPError.badRequest("sortOrder must be Asc or Desc.") }
            sort.append((try field(name), order == "Asc"))
        }
        let start = body["start"]?.intValue ?? 0
        let num = body["num"]?.intValue ?? 50
        guard start >= 0, (0...1000).contains(num) else { throw HTTPError.badRequest("start must be ≥ 0 and num from 0 to 1000.") }
        let result = try WorkflowManagerAPI.translate {
            try session.stepJobs.search(item: item.key, JobSearch(condition: condition, fields: fields, sort: sort, start: start, num: num))
        }
        return .json([
            "q": .string(q ?? text ?? ""),
            "fields": .array(fields.map { ["name": .string($0.rawValue), "fieldType": .string($0.kind.rawValue)] }),
            "results": .array(result.rows.map { row in .array(zip(fields, row).map { WMRender.searchValue($1, $0) }) }),
            "start": .number(start), "nextStart": .number(result.hasMore ? start + num : -1), "num": .number(result.rows.count),
        ])
    }

    /// The jobs a query (`q`, Workflow Manager's SQL-like grammar) and free text select.
    static func condition(q: String?, text: String?, user: User) throws -> JobCondition? {
        var condition: JobCondition?
        if let q, !q.trimmingCharacters(in: " ").isEmpty {
            do {
                var parser = try JobQueryParser(q, currentUser: user.username)
                condition = try parser.parse()
            } catch let error as JobQueryParser.Failure {
                throw HTTPError.badRequest("Invalid query: \(error.message)", details: ["q: \(q)"])
            }
        }
        if let text, !text.isEmpty {
            condition = condition.map { .and($0, .text(text)) } ?? .text(text)
        }
        return condition
    }

    static func field(_ name: String) throws -> JobField {
        guard let field = JobField(rawValue: name) else {
            throw HTTPError.badRequest(
                "Unknown field '\(name)'.", details: ["Fields: \(JobField.allCases.map(\.rawValue).joined(separator: ", "))"])
        }
        return field
    }
}
