import Engine
import HTTP
import JSON
import WorkflowManager

/// A job's own properties, comments, attachments and location, and statistics over jobs. The
/// literal segments here win over the step-assignment route `jobs/{jobId}/{stepId}`.
enum WMJobRecords {
    static let routes: [Route<Session>] = [
        WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/update", update),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}/comments", comments),
        WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/comments", addComment),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}/attachments", attachments),
        WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/attachments", attach),
        WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/attachmentslinked", link),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}/attachments/{attachmentId}", attachment),
        WorkflowManagerAPI.underItem("POST", "/jobs/{jobId}/attachments/{attachmentId}", updateAttachment),
        WorkflowManagerAPI.underItem("DELETE", "/jobs/{jobId}/attachments/{attachmentId}", deleteAttachment),
        WorkflowManagerAPI.underItem("GET", "/jobs/{jobId}/location", location),
        WorkflowManagerAPI.underItem("PUT", "/jobs/{jobId}/location", setLocation),
        WorkflowManagerAPI.underItem("POST", "/jobs/statistics", statistics),
    ]

    static func missing(_ request: Request) -> HTTPError { .badRequest("Job '\(request.parameter("jobId"))' does not exist.") }

    // MARK: Update

    /// Properties an update may change, with the job's read-only fields, which clients send
    /// back as they read them (ignored).
    static let updatable: Set<String> = [
        "jobName", "ownedBy", "description", "notes", "priority", "jobStatus", "startDate", "dueDate", "percentComplete",
        "parentJob", "extendedProperties", "allowRunningStepId",
    ]
    static let readOnly: Set<String> = [
        "jobId", "jobTemplateId", "jobTemplateName", "diagramId", "diagramName", "diagramVersion", "currentSteps", "holds",
        "activeVersions", "createdDate", "createdBy", "startedDate", "endDate", "closed", "archived", "hasLocation",
        "relatedProperties",
    ]
    static let updateFields = updatable.union(readOnly).union(["versions"])

    static func update(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(updateFields)
        if let id = try body.optionalString("jobId"), id != request.parameter("jobId") {
            throw HTTPError.badRequest("jobId in the body must match the URL.")
        }
        if let versions = body["versions"]?.arrayValue, !versions.isEmpty {
            throw HTTPError.badRequest("Job versions are not supported: Flowgate keeps no geodatabase versions.")
        }
        var changes = StepJobChanges()
        changes.jobName = try body.optionalString("jobName")
        changes.ownedBy = try body.optionalString("ownedBy")
        changes.allowRunningStepId = try body.optionalString("allowRunningStepId")
        for key in ["description", "notes", "priority", "jobStatus", "parentJob"] {
            if let text = try body.optionalString(key) { changes.properties.append((key, .string(text))) }
        }
        for key in ["startDate", "dueDate"] {
            if let seconds = try WorkflowManagerAPI.date(body, key) { changes.properties.append((key, .string(Timestamp.format(seconds)))) }
        }
        if let percent = body["percentComplete"], !percent.isNull {
            guard let value = percent.doubleValue, (0...100).contains(value) else {
                throw HTTPError.badRequest("percentComplete must be a number from 0 to 100.")
            }
            changes.properties.append(("percentComplete", percent))
        }
        if let properties = body["extendedProperties"], !properties.isNull {
            changes.properties.append(("extendedProperties", try WMJobs.extendedProperties(properties)))
        }
        let changed = try WorkflowManagerAPI.translate {
            try session.stepJobs.update(item: caller.item.key, jobId: request.parameter("jobId"), changes, by: StepCaller(caller.user))
        }
        guard changed != nil else { throw missing(request) }
        return .json(WorkflowManagerAPI.success)
    }

    // MARK: Comments

    static func comments(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let jobId = request.parameter("jobId")
        guard let comments = try session.jobRecords.comments(item: caller.item.key, jobId: jobId) else { throw missing(request) }
        return .json([
            "jobComments": .array(
                comments.map { comment in
                    [
                        "jobId": .string(jobId), "commentId": .string(comment.id), "comment": .string(comment.comment),
                        "lastModifiedBy": .string(comment.createdBy), "lastModified": .string(Timestamp.format(comment.createdAt)),
                    ]
                })
        ])
    }

    static func addComment(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["comment"])
        guard let text = try body.optionalString("comment"), !text.isEmpty else { throw HTTPError.badRequest("comment is required.") }
        let id = try WorkflowManagerAPI.translate {
            try session.jobRecords.addComment(item: caller.item.key, jobId: request.parameter("jobId"), text, by: caller.user)
        }
        guard let id else { throw missing(request) }
        return .json(["commentId": .string(id)])
    }

    // MARK: Attachments

    static func attachmentURL(_ request: Request, _ id: String) -> String {
        "\(request.origin)/\(request.parameter("orgId"))/\(request.parameter("itemId"))/jobs/\(request.parameter("jobId"))/attachments/\(id)"
    }

    static func render(_ attachment: JobAttachment, _ request: Request) -> JSON {
        [
            "id": .string(attachment.id), "alias": .string(attachment.alias), "folder": .string(attachment.folder),
            "url": .string(attachment.link ?? attachmentURL(request, attachment.id)), "lastModifiedBy": .string(attachment.createdBy),
            "lastModified": .string(Timestamp.format(attachment.createdAt)),
        ]
    }

    static func attachments(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        guard let list = try session.jobRecords.attachments(item: caller.item.key, jobId: request.parameter("jobId")) else {
            throw missing(request)
        }
        return .json(["attachments": .array(list.map { render($0, request) })])
    }

    /// Multipart: the file in `attachment`, optional `alias` (else the file's name) and `folder`.
    static func attach(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["jobUpdateAttachments"])
        let form = try request.formBody()
        guard let file = form.file("attachment") else { throw HTTPError.badRequest("The file goes in the form field 'attachment'.") }
        let alias = form["alias"] ?? file.filename
        let id = try WorkflowManagerAPI.translate {
            try session.jobRecords.attach(
                item: caller.item.key, jobId: request.parameter("jobId"), alias: alias, folder: form["folder"], content: file.content,
                contentType: file.contentType, by: caller.user)
        }
        guard let id else { throw missing(request) }
        return .json(["attachmentId": .string(id), "alias": .string(alias), "url": .string(attachmentURL(request, id))])
    }

    /// `{"attachments": [{"url", "alias"?, "folder"?}]}`, all or none.
    static func link(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["jobUpdateAttachments"])
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["attachments"])
        guard let links = body["attachments"]?.arrayValue, !links.isEmpty, links.count <= JobRecords.maxAttachmentsPerJob else {
            throw HTTPError.badRequest("attachments must be a list of {\"url\", \"alias\", \"folder\"}.")
        }
        let jobId = request.parameter("jobId")
        let created: [JSON] = try session.connection.transaction { _ in
            try links.map { entry in
                try entry.requireKnownKeys(["url", "alias", "folder"])
                guard let url = try entry.optionalString("url") else { throw HTTPError.badRequest("Each attachment needs a url.") }
                let alias = try entry.optionalString("alias") ?? url
                let folder = try entry.optionalString("folder")
                let id = try WorkflowManagerAPI.translate {
                    try session.jobRecords.link(
                        item: caller.item.key, jobId: jobId, url: url, alias: alias, folder: folder, by: caller.user)
                }
                guard let id else { throw missing(request) }
                return ["id": .string(id), "alias": .string(alias), "folder": .string(folder), "url": .string(url)]
            }
        }
        return .json(["attachments": .array(created)])
    }

    /// A file as it was stored, always as a download; a link as its description.
    static func attachment(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let id = request.parameter("attachmentId")
        guard
            let (attachment, content) = try session.jobRecords.attachment(item: caller.item.key, jobId: request.parameter("jobId"), id: id)
        else { throw HTTPError.badRequest("Attachment '\(id)' does not exist.") }
        guard let content else { return .json(render(attachment, request)) }
        let name = String(attachment.alias.unicodeScalars.filter { $0.isASCII && $0.value >= 32 && $0 != "\"" && $0 != "\\" })
        return Response(
            status: 200,
            headers: [
                ("Content-Type", "application/octet-stream"), ("Content-Disposition", "attachment; filename=\"\(name)\""),
                ("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", "sandbox"),
            ], body: content)
    }

    /// `alias` and `folder`, as a form (urlencoded or multipart) or a JSON object.
    static func updateAttachment(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["jobUpdateAttachments"])
        let fields: [(String, String)]
        if request.mediaType == "application/json" {
            let body = try WorkflowManagerAPI.objectBody(request)
            try body.requireKnownKeys(["alias", "folder"])
            fields = try ["alias", "folder"].compactMap { key in try body.optionalString(key).map { (key, $0) } }
        } else {
            fields = try request.formBody().fields
            try JSON.object(fields.map { ($0.0, JSON.string($0.1)) }).requireKnownKeys(["alias", "folder"])
        }
        let alias = fields.first { $0.0 == "alias" }?.1
        if alias?.isEmpty == true { throw HTTPError.badRequest("Alias cannot be set to null.") }
        let found = try session.jobRecords.updateAttachment(
            item: caller.item.key, jobId: request.parameter("jobId"), id: request.parameter("attachmentId"), alias: alias,
            folder: fields.first { $0.0 == "folder" }?.1)
        guard found else { throw HTTPError.badRequest("Attachment '\(request.parameter("attachmentId"))' does not exist.") }
        return .json(WorkflowManagerAPI.success)
    }

    static func deleteAttachment(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["jobUpdateAttachments"])
        let found = try session.jobRecords.deleteAttachment(
            item: caller.item.key, jobId: request.parameter("jobId"), id: request.parameter("attachmentId"))
        guard found else { throw HTTPError.badRequest("Attachment '\(request.parameter("attachmentId"))' does not exist.") }
        return .json(WorkflowManagerAPI.success)
    }

    // MARK: Location

    static let geometryTypes = ["Multipoint", "Polyline", "Polygon"]

    static func location(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let job = try WMJobs.job(request, session, in: caller.item)
        let location = job.document["location"]
        return .json(["geometryType": location?["geometryType"] ?? .null, "geometry": location?["geometry"] ?? .null])
    }

    /// `{"location": {"geometryType", "geometry"}}`; the geometry is Esri JSON, as text or an object.
    static func setLocation(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["jobUpdateLocation"])
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["location"])
        guard let location = body["location"], case .object = location else {
            throw HTTPError.badRequest("location must be {\"geometryType\", \"geometry\"}.")
        }
        try location.requireKnownKeys(["geometryType", "geometry"])
        guard let type = try location.optionalString("geometryType"), geometryTypes.contains(type) else {
            throw HTTPError.badRequest("geometryType must be one of \(geometryTypes.joined(separator: ", ")).")
        }
        var geometry = location["geometry"] ?? .null
        if let text = geometry.stringValue { geometry = (try? JSON.parse(text)) ?? .null }
        guard case .object = geometry else { throw HTTPError.badRequest("geometry must be an Esri JSON geometry.") }
        let stored: JSON = ["geometryType": .string(type), "geometry": .string(geometry.serialized)]
        guard try session.jobRecords.setLocation(item: caller.item.key, jobId: request.parameter("jobId"), stored) else {
            throw missing(request)
        }
        return .json(WorkflowManagerAPI.success)
    }

    // MARK: Statistics

    /// `{"q"?, "search"?, "groupBy"?}` → `{"total", "groupBy", "groupedValues": [{"value", "count"}]}`.
    static func statistics(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["q", "search", "groupBy", "spatialExtent", "hasLocation"])
        if !(body["spatialExtent"] ?? .null).isNull || body["hasLocation"]?.boolValue == true {
            throw HTTPError.badRequest("spatialExtent and hasLocation are not supported: Flowgate has no spatial index.")
        }
        let condition = try WMJobs.condition(q: try body.optionalString("q"), text: try body.optionalString("search"), user: caller.user)
        let groupBy = try body.optionalString("groupBy").map(WMJobs.field)
        let result = try WorkflowManagerAPI.translate {
            try session.stepJobs.statistics(item: caller.item.key, condition, groupBy: groupBy)
        }
        var response: [(String, JSON)] = [("total", .number(result.total))]
        if let groupBy {
            response.append(("groupBy", .string(groupBy.rawValue)))
            response.append(
                (
                    "groupedValues",
                    .array(result.groups.map { ["value": WMRender.searchValue($0.value, groupBy), "count": .number($0.count)] })
                ))
        }
        return .json(.object(response))
    }
}
