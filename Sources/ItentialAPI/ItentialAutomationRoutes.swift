import Engine
import HTTP
import Itential
import JSON
import SurfaceSupport

/// Operations Manager automations and their triggers: CRUD, export, and running a trigger
/// (manual, or the POST of an endpoint trigger). Schedules are fired by the runners.
enum ItentialAutomationRoutes {
    static let read = ItentialAPI.access(ItentialAPI.Roles.automationRead)
    static let write = ItentialAPI.access(ItentialAPI.Roles.automationWrite)

    static let routes: [Route<Session>] = ["operations-manager", "operations_manager"].flatMap { base in
        automationRoutes(base) + triggerRoutes(base)
    }

    static func automationRoutes(_ base: String) -> [Route<Session>] {
        [
            Route("GET", "/\(base)/automations", read) { request, session, caller in
                let query = try catalogQuery(request, caller, fields: automationFields)
                return page("automations", try session.itentialAutomations.list(query), query)
            },
            Route("POST", "/\(base)/automations", write) { request, session, caller in
                let created = try EngineErrors.mapped {
                    try session.itentialAutomations.create(try ItentialAPI.objectBody(request), by: caller)
                }
                return ItentialAPI.envelope("Successfully created \(created["name"]?.stringValue ?? "")", created, metadata: [:])
            },
            // {"automations": [exported automations with their triggers]}
            Route("PUT", "/\(base)/automations", write) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["automations"])
                guard let automations = body["automations"]?.arrayValue else {
                    throw HTTPError.badRequest("automations must be an array of automations")
                }
                return imported(try EngineErrors.mapped { try session.itentialAutomations.importAll(automations, by: caller) })
            },
            Route("GET", "/\(base)/automations/{id}/export", read) { request, session, caller in
                let automation = try visibleAutomation(request.parameter("id"), session, caller)
                var query = ItentialCatalogQuery()
                query.limit = ItentialSearchQuery.maxLimit
                query.required = ["actionId": .string(request.parameter("id"))]
                let triggers = try session.itentialTriggers.list(query).items
                let exported = JSON.object((automation.document.objectValue ?? []).filter { $0.0 != "componentId" }).setting(
                    "triggers", to: .array(triggers))
                return ItentialAPI.envelope("Successfully exported automation", exported, metadata: [:])
            },
        ]
            + itemRoutes(
                "/\(base)/automations/{id}", "automation",
                read: { session, id, caller in try visibleAutomation(id, session, caller).document },
                update: { session, id, body, caller in
                    try session.itentialAutomations.update(id: id, body, by: caller, mayWrite: writable(by: caller))
                },
                delete: { session, id, caller in try session.itentialAutomations.delete(id: id, mayWrite: writable(by: caller)) })
    }

    static func triggerRoutes(_ base: String) -> [Route<Session>] {
        [
            Route("GET", "/\(base)/triggers", read) { request, session, caller in
                var query = try catalogQuery(request, caller, fields: triggerFields)
                if let enabled = request.queryValue("enabled") {
                    guard let value = Bool(enabled) else { throw HTTPError.badRequest("enabled must be true or false") }
                    query.required = query.required.setting("enabled", to: .bool(value))
                }
                if let action = request.queryValue("actionId") { query.required = query.required.setting("actionId", to: .string(action)) }
                return page("triggers", try session.itentialTriggers.list(query), query)
            },
            Route("POST", "/\(base)/triggers", write) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                let created = try EngineErrors.mapped {
                    try session.itentialTriggers.create(body, by: caller, mayWrite: writable(by: caller))
                }
                return ItentialAPI.envelope("Successfully created \(created["name"]?.stringValue ?? "")", created, metadata: [:])
            },
            // {"triggers": [exported triggers], "options"?: {...}}
            Route("PUT", "/\(base)/triggers", write) { request, session, caller in
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["triggers", "options"])
                guard let triggers = body["triggers"]?.arrayValue else {
                    throw HTTPError.badRequest("triggers must be an array of triggers")
                }
                return imported(
                    try EngineErrors.mapped { try session.itentialTriggers.importAll(triggers, by: caller, mayWrite: writable(by: caller)) }
                )
            },
            Route("DELETE", "/\(base)/triggers/action/{id}", write) { request, session, caller in
                let id = request.parameter("id")
                guard
                    let count = try EngineErrors.mapped({
                        try session.itentialTriggers.deleteAll(ofAutomation: id, mayWrite: writable(by: caller))
                    })
                else { throw HTTPError.notFound("Automation \(id) not found") }
                return ItentialAPI.envelope("Successfully deleted \(count) triggers", .null, metadata: ["total": .number(count)])
            },
            Route("POST", "/\(base)/triggers/endpoint/{routeName}", write) { request, session, caller in
                let route = request.parameter("routeName")
                let body = try ItentialAPI.objectBody(request)
                return try started(
                    session.itentialTriggers.runEndpoint(
                        routeName: route, body: body, by: caller, visibleGroups: ItentialAccess.visibleGroups(caller)),
                    what: "Endpoint trigger \(route)")
            },
            Route("POST", "/\(base)/triggers/manual/{id}/run", write) { request, session, caller in
                let id = request.parameter("id")
                let body = try ItentialAPI.objectBody(request)
                try ItentialJobRoutes.refuseUnknownMembers(body, allowed: ["formData"])
                guard let formData = body["formData"], case .object = formData else {
                    throw HTTPError.badRequest("body must have required property 'formData' (an object)")
                }
                return try started(
                    session.itentialTriggers.runManual(
                        id: id, formData: formData, by: caller, visibleGroups: ItentialAccess.visibleGroups(caller)),
                    what: "Manual trigger \(id)")
            },
        ]
            + itemRoutes(
                "/\(base)/triggers/{id}", "trigger",
                read: { session, id, caller in
                    guard let trigger = try session.itentialTriggers.trigger(id: id) else { return nil }
                    try requireVisible(trigger.automation, caller)
                    return trigger.document
                },
                update: { session, id, body, caller in
                    try session.itentialTriggers.update(id: id, body, by: caller, mayWrite: writable(by: caller))
                },
                delete: { session, id, caller in try session.itentialTriggers.delete(id: id, mayWrite: writable(by: caller)) })
    }

    /// GET, PATCH (the members sent) and DELETE of one automation or trigger by id; each
    /// closure answers nil or false when there is none.
    static func itemRoutes(
        _ path: String, _ what: String, read reader: @escaping @Sendable (Session, String, User) throws -> JSON?,
        update: @escaping @Sendable (Session, String, JSON, User) throws -> JSON?,
        delete: @escaping @Sendable (Session, String, User) throws -> Bool
    ) -> [Route<Session>] {
        let missing = { @Sendable (id: String) in HTTPError.notFound("\(what.prefix(1).uppercased() + what.dropFirst()) \(id) not found") }
        return [
            Route("GET", path, read) { request, session, caller in
                let id = request.parameter("id")
                guard let document = try reader(session, id, caller) else { throw missing(id) }
                return ItentialAPI.envelope("Successfully retrieved \(what)", document, metadata: [:])
            },
            Route("PATCH", path, write) { request, session, caller in
                let id = request.parameter("id")
                let body = try ItentialAPI.objectBody(request)
                guard let updated = try EngineErrors.mapped({ try update(session, id, body, caller) }) else { throw missing(id) }
                return ItentialAPI.envelope("Successfully updated \(updated["name"]?.stringValue ?? "")", updated, metadata: [:])
            },
            Route("DELETE", path, write) { request, session, caller in
                let id = request.parameter("id")
                guard try EngineErrors.mapped({ try delete(session, id, caller) }) else { throw missing(id) }
                return ItentialAPI.envelope("Successfully deleted \(what) \(id)", .null, metadata: [:])
            },
        ]
    }

    /// An import's answer: every item made (an import is all or nothing).
    static func imported(_ documents: [JSON]) -> Response {
        ItentialAPI.envelope(
            "Successfully imported \(documents.count) documents", .array(documents.map { ["success": true, "data": $0] }), metadata: [:])
    }

    /// The spawned job, or the refusal in the surface's statuses.
    static func started(_ result: Result<ItentialJob, ItentialTriggers.RunRefusal>, what: String) throws -> Response {
        switch result {
        case let .success(job): return ItentialAPI.envelope("Successfully started job", ItentialJobDocument.render(job))
        case .failure(.noSuchTrigger): throw HTTPError.notFound("\(what) not found")
        case .failure(.hidden): throw HTTPError.forbidden("\(what) belongs to an automation you may not run")
        case .failure(.disabled): throw HTTPError.conflict("\(what) is disabled")
        case let .failure(.bodyRefused(violations)):
            let message = "The request body does not match the trigger's schema: \(violations.first ?? "")"
            throw HTTPError(400, message, body: ["message": .string(message), "data": .array(violations.map(JSON.string))])
        case let .failure(.cannotStart(message)): throw HTTPError.badRequest(message)
        }
    }

    static func writable(by caller: User) -> (ItentialAutomations.Automation) -> Bool {
        let groups = ItentialAccess.visibleGroups(caller)
        return { $0.isWritable(by: groups) }
    }

    static func requireVisible(_ automation: ItentialAutomations.Automation, _ caller: User) throws {
        guard automation.isVisible(to: ItentialAccess.visibleGroups(caller)) else {
            throw HTTPError.forbidden("User \(caller.username) is not in a group that may see this automation")
        }
    }

    static func visibleAutomation(_ id: String, _ session: Session, _ caller: User) throws -> ItentialAutomations.Automation {
        guard let automation = try session.itentialAutomations.automation(id: id) else {
            throw HTTPError.notFound("Automation \(id) not found")
        }
        try requireVisible(automation, caller)
        return automation
    }

    // MARK: The list grammar

    static let automationFields: Set<String> = [
        "_id", "name", "description", "componentType", "componentId", "componentName", "created", "createdBy", "lastUpdated",
        "lastUpdatedBy",
    ]
    static let triggerFields: Set<String> = [
        "_id", "name", "description", "type", "enabled", "actionType", "actionId", "routeName", "verb", "formId", "created", "createdBy",
        "lastUpdated", "lastUpdatedBy",
    ]

    /// `equals=<value>&equalsField=<member>` and its `contains`/`startsWith` siblings, `sort`,
    /// `order`, `skip`, `limit`; the bracket form of the job searches is refused here, as on
    /// the platform.
    static func catalogQuery(_ request: Request, _ caller: User, fields: Set<String>) throws -> ItentialCatalogQuery {
        if let bracketed = request.query.first(where: { $0.0.contains("[") })?.0 {
            throw HTTPError.badRequest("\(bracketed): use equals=<value>&equalsField=<field> (and contains, startsWith) here")
        }
        var query = ItentialCatalogQuery()
        query.visibleGroups = ItentialAccess.visibleGroups(caller)
        func match(_ op: String) throws -> ItentialCatalogQuery.Match? {
            let value = request.queryValue(op)
            let field = request.queryValue(op + "Field")
            guard value != nil || field != nil else { return nil }
            guard let value, let field else { throw HTTPError.badRequest("\(op) and \(op)Field go together") }
            guard fields.contains(field) else {
                throw HTTPError.badRequest("\(op)Field must be one of \(fields.sorted().joined(separator: ", "))")
            }
            return (field, value)
        }
        query.equals = try match("equals")
        query.contains = try match("contains")
        query.startsWith = try match("startsWith")
        if let sort = request.queryValue("sort") {
            guard fields.contains(sort) else {
                throw HTTPError.badRequest("sort must be one of \(fields.sorted().joined(separator: ", "))")
            }
            query.sort = sort
        }
        if let order = request.queryValue("order") {
            guard ["1", "-1", "asc", "desc"].contains(order) else { throw HTTPError.badRequest("order must be 1 or -1") }
            query.descending = order == "-1" || order == "desc"
        }
        if let skip = request.queryValue("skip") { query.skip = try ItentialSearchQuery.count("skip", skip) }
        if let limit = request.queryValue("limit") {
            let value = try ItentialSearchQuery.count("limit", limit)
            query.limit = value == 0 || value > ItentialSearchQuery.maxLimit ? ItentialSearchQuery.maxLimit : value
        }
        return query
    }

    static func page(_ what: String, _ page: ItentialSearch.Page<JSON>, _ query: ItentialCatalogQuery) -> Response {
        ItentialAPI.envelope(
            "Successfully retrieved \(what)", .array(page.items),
            metadata: [
                "total": .number(page.total), "count": .number(page.items.count), "skip": .number(query.skip),
                "limit": .number(query.limit),
            ])
    }
}
