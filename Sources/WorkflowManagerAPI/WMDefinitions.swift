import Engine
import HTTP
import JSON
import WorkflowManager

/// Workflow items, diagrams and job templates.
enum WMDefinitions {
    static let routes: [Route<Session>] = [
        Route("POST", "/{orgId}/admin/createWorkflowItem", createItem),
        Route("GET", "/{orgId}/admin/items", listItems),
        Route("GET", "/{orgId}/admin/items/{itemId}", getItem),
        WorkflowManagerAPI.underItem("POST", "/diagrams", createDiagram),
        WorkflowManagerAPI.underItem("GET", "/diagrams", listDiagrams),
        WorkflowManagerAPI.underItem("GET", "/diagrams/{diagramId}", getDiagram),
        WorkflowManagerAPI.underItem("GET", "/diagrams/{diagramId}/{version}", getDiagram),
        WorkflowManagerAPI.underItem("POST", "/jobTemplates", createTemplate),
        WorkflowManagerAPI.underItem("GET", "/jobTemplates", listTemplates),
        WorkflowManagerAPI.underItem("GET", "/jobTemplates/{templateId}", getTemplate),
        WorkflowManagerAPI.underItem("PUT", "/jobTemplates/{templateId}", updateTemplate),
        WorkflowManagerAPI.underItem("DELETE", "/jobTemplates/{templateId}", deleteTemplate),
    ]

    static let admins = ["adminBasic", "adminAdvanced"]

    // MARK: Items

    /// A Flowgate extension (Workflow Manager creates items through Portal): body
    /// `{"itemId"?, "name"?}`, or the same as query parameters.
    static func createItem(_ request: Request, _ session: Session) throws -> Response {
        let user = try WorkflowManagerAPI.authenticate(request, session)
        guard user.hasRole("admin") || user.privileges.contains("adminAdvanced") else {
            throw HTTPError.forbidden("The adminAdvanced privilege is required.")
        }
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["itemId", "name", "async"])
        let itemId = try body.optionalString("itemId") ?? request.queryValue("itemId")
        let name = try body.optionalString("name") ?? request.queryValue("name") ?? ""
        // "admin" would shadow the item's own routes with these.
        if let itemId, itemId.isEmpty || itemId.utf8.count > 100 || itemId.contains("/") || itemId == "admin" {
            throw HTTPError.badRequest("itemId must be 1 to 100 characters without '/', and not 'admin'.")
        }
        let item = try WorkflowManagerAPI.translate {
            try session.workflowItems.create(orgId: request.parameter("orgId"), itemId: itemId, name: name, by: user)
        }
        return .json(["itemId": .string(item.itemId), "success": true])
    }

    static func listItems(_ request: Request, _ session: Session) throws -> Response {
        _ = try WorkflowManagerAPI.authenticate(request, session)
        let items = try session.workflowItems.items(orgId: request.parameter("orgId"))
        return .json(["items": .array(items.map(render))])
    }

    static func getItem(_ request: Request, _ session: Session) throws -> Response {
        let (_, item) = try WorkflowManagerAPI.caller(request, session)
        return .json(render(item))
    }

    static func render(_ item: WorkflowItem) -> JSON {
        [
            "orgId": .string(item.orgId), "itemId": .string(item.itemId), "name": .string(item.name),
            "createdDate": .string(Timestamp.format(item.createdAt)),
        ]
    }

    // MARK: Diagrams

    static func createDiagram(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        try WorkflowManagerAPI.require(user, anyOf: admins)
        let body = try WorkflowManagerAPI.objectBody(request)
        let stored = try WorkflowManagerAPI.translate { try session.workflowItems.createDiagram(item: item.key, body, by: user) }
        return .json(["diagramId": .string(stored.id), "diagramVersion": .number(stored.version)])
    }

    static func listDiagrams(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let item = caller.item
        return .json(["diagrams": .array(try session.workflowItems.diagrams(item: item.key).map(render))])
    }

    static func getDiagram(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let item = caller.item
        let id = request.parameter("diagramId")
        var version: Int?
        if let text = request.pathParameters["version"] {
            guard let number = Int(text), number > 0 else { throw HTTPError.badRequest("Diagram version '\(text)' is not a number.") }
            version = number
        }
        guard let stored = try session.workflowItems.diagram(item: item.key, id: id, version: version) else {
            throw HTTPError.badRequest("Diagram '\(id)' does not exist.")
        }
        return .json(render(stored))
    }

    /// The document as sent, with the ids Flowgate assigned.
    static func render(_ stored: StoredDiagram) -> JSON {
        let initial = stored.diagram.step(stored.diagram.initialStepId)
        return stored.diagram.document
            .setting("diagramId", to: .string(stored.id))
            .setting("diagramVersion", to: .number(stored.version))
            .setting("initialStepId", to: .string(stored.diagram.initialStepId))
            .setting("initialStepName", to: .string(initial?.name))
            .setting("active", to: stored.diagram.document["active"] ?? true)
    }

    // MARK: Job templates

    static func createTemplate(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let (user, item) = (caller.user, caller.item)
        try WorkflowManagerAPI.require(user, anyOf: admins)
        let body = try WorkflowManagerAPI.objectBody(request)
        guard let name = try body.optionalString("jobTemplateName"), !name.isEmpty else {
            throw HTTPError.badRequest("jobTemplateName is required.")
        }
        guard let diagramId = try body.optionalString("diagramId") else { throw HTTPError.badRequest("diagramId is required.") }
        let state = try body.optionalString("state") ?? "Active"
        let template = try WorkflowManagerAPI.translate {
            try session.workflowItems.createTemplate(
                item: item.key, name: name, diagramId: diagramId, state: state, document: try defaults(body), by: user)
        }
        return .json(["jobTemplateId": .string(template.id)])
    }

    /// What a template body may carry. Those Flowgate owns (ids, names it looks up, who changed
    /// it last) are not kept as defaults: the client sends them back as it read them.
    static let templateFields: Set<String> = [
        "jobTemplateId", "jobTemplateName", "diagramId", "diagramName", "state", "lastUpdatedBy", "lastUpdatedDate", "category",
        "defaultJobDuration", "defaultAssignedTo", "defaultAssignedType", "defaultDueDate", "defaultStartDate", "jobStartDateType",
        "defaultPriorityName", "description", "defaultDescription", "defaultJobName", "defaultStatus", "defaultFinalStatus",
        "extendedPropertyTableDefinitions",
    ]
    static let ownedTemplateFields: Set<String> = [
        "jobTemplateId", "jobTemplateName", "diagramId", "diagramName", "state", "lastUpdatedBy", "lastUpdatedDate",
    ]

    /// The template's defaults for new jobs: the body without the fields Flowgate owns, nor nulls.
    static func defaults(_ body: JSON) throws -> JSON {
        try body.requireKnownKeys(templateFields)
        if let type = try body.optionalString("defaultAssignedType"),
            Assignment(type: type, to: try body.optionalString("defaultAssignedTo")) == nil
        {
            throw HTTPError.badRequest("defaultAssignedType must be User, Group or Unassigned, with defaultAssignedTo for User and Group.")
        }
        return .object((body.objectValue ?? []).filter { !ownedTemplateFields.contains($0.0) && !$0.1.isNull })
    }

    /// PUT: the properties given replace the template's; absent or null ones stay.
    static func updateTemplate(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: admins)
        let body = try WorkflowManagerAPI.objectBody(request)
        let id = request.parameter("templateId")
        if let given = try body.optionalString("jobTemplateId"), given != id {
            throw HTTPError.badRequest("jobTemplateId in the body must match the URL.")
        }
        let name = try body.optionalString("jobTemplateName")
        if name?.isEmpty == true { throw HTTPError.badRequest("jobTemplateName must not be empty.") }
        let updated = try WorkflowManagerAPI.translate {
            try session.workflowItems.updateTemplate(
                item: caller.item.key, id: id, name: name, diagramId: try body.optionalString("diagramId"),
                state: try body.optionalString("state"), document: try defaults(body), by: caller.user)
        }
        guard updated != nil else { throw HTTPError.badRequest("Job template '\(id)' does not exist.") }
        return .json(WorkflowManagerAPI.success)
    }

    static func deleteTemplate(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: admins)
        let id = request.parameter("templateId")
        guard try WorkflowManagerAPI.translate({ try session.workflowItems.deleteTemplate(item: caller.item.key, id: id) }) else {
            throw HTTPError.badRequest("Job template '\(id)' does not exist.")
        }
        return .json(WorkflowManagerAPI.success)
    }

    static func listTemplates(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let item = caller.item
        let templates = try session.workflowItems.templates(item: item.key)
        var diagramNames: [String: String] = [:]
        for template in templates where diagramNames[template.diagramId] == nil {
            diagramNames[template.diagramId] = try session.workflowItems.diagram(item: item.key, id: template.diagramId)?.diagram.name
        }
        return .json(["jobTemplates": .array(templates.map { render($0, diagramName: diagramNames[$0.diagramId]) })])
    }

    static func getTemplate(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let item = caller.item
        let id = request.parameter("templateId")
        guard let template = try session.workflowItems.template(item: item.key, id: id) else {
            throw HTTPError.badRequest("Job template '\(id)' does not exist.")
        }
        let diagram = try session.workflowItems.diagram(item: item.key, id: template.diagramId)
        return .json(render(template, diagramName: diagram?.diagram.name))
    }

    static func render(_ template: JobTemplate, diagramName: String?) -> JSON {
        var fields: [(String, JSON)] = [
            ("jobTemplateId", .string(template.id)), ("jobTemplateName", .string(template.name)),
            ("diagramId", .string(template.diagramId)), ("diagramName", .string(diagramName)), ("state", .string(template.state)),
        ]
        // Templates stored before their owned fields were stripped may still carry them: ours win.
        fields += (template.document.objectValue ?? []).filter { !ownedTemplateFields.contains($0.0) }
        fields += [("lastUpdatedBy", .string(template.updatedBy)), ("lastUpdatedDate", .string(Timestamp.format(template.updatedAt)))]
        return .object(fields)
    }
}
