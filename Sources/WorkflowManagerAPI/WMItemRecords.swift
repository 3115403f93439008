import Dispatch
import Engine
import HTTP
import JSON
import WorkflowManager

/// An item's settings and saved searches, the item's creation status, and the server's status.
enum WMItemRecords {
    static let statusRoutes: Set<String> = ["checkStatus", "healthCheck"]

    static let routes: [Route<Session>] = [
        Route("GET", "/{orgId}/checkStatus") { _, session in try status(session, ["success": true, "hasAdvancedLicense": true]) },
        Route("GET", "/{orgId}/healthCheck") { _, session in try status(session, ["success": true]) },
        Route("GET", "/{orgId}/admin/{itemId}/creationStatus", creationStatus),
        WorkflowManagerAPI.underItem("GET", "/settings", settings),
        WorkflowManagerAPI.underItem("POST", "/settings", saveSettings),
        WorkflowManagerAPI.underItem("GET", "/searches", searches),
        WorkflowManagerAPI.underItem("POST", "/searches", createSearch),
        WorkflowManagerAPI.underItem("PUT", "/searches/{searchId}", updateSearch),
        WorkflowManagerAPI.underItem("DELETE", "/searches/{searchId}", deleteSearch),
        WorkflowManagerAPI.underItem("GET", "/searches/{searchId}/shareWith", sharing),
        WorkflowManagerAPI.underItem("POST", "/searches/{searchId}/shareWith", share),
    ]

    /// Whether the server answers: `{"success"}` when the database does (no token needed, as
    /// for a load balancer's health check).
    static func status(_ session: Session, _ answer: JSON) throws -> Response {
        guard session.databaseIsReachable(now: DispatchTime.now().uptimeNanoseconds) else {
            throw HTTPError(503, "The database is unavailable.")
        }
        return .json(answer)
    }

    /// Items are made at once, so one that exists has succeeded.
    static func creationStatus(_ request: Request, _ session: Session) throws -> Response {
        _ = try WorkflowManagerAPI.caller(request, session)
        return .json(["status": "Succeeded"])
    }

    // MARK: Settings

    static func settings(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["adminAdvanced"])
        let settings = try session.itemRecords.settings(item: caller.item.key)
        return .json([
            "settings": .array(settings.map { ["propName": .string($0.name), "value": .string($0.value), "encrypted": false] })
        ])
    }

    /// `{"settings": [{"propName", "value"}]}`; values are text.
    static func saveSettings(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: ["adminAdvanced"])
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["settings"])
        guard let list = body["settings"]?.arrayValue, list.count <= ItemRecords.maxSettings else {
            throw HTTPError.badRequest("settings must be a list of at most \(ItemRecords.maxSettings) {\"propName\", \"value\"}.")
        }
        let settings = try list.map { entry in
            try entry.requireKnownKeys(["propName", "value", "encrypted"])
            guard let name = try entry.optionalString("propName"), !name.isEmpty, name.count <= 200,
                let value = entry["value"].flatMap({ $0.stringValue ?? ($0.isNull ? nil : $0.serialized) }), value.count <= 10_000
            else { throw HTTPError.badRequest("Each setting needs a propName (200 characters at most) and a value (10,000).") }
            return ItemSetting(name: name, value: value)
        }
        try WorkflowManagerAPI.translate { try session.itemRecords.save(item: caller.item.key, settings) }
        return .json(WorkflowManagerAPI.success)
    }

    // MARK: Saved searches

    static let searchFields: Set<String> = ["searchId", "name", "folder", "definition", "searchType", "colorRamp", "sortIndex"]

    static func render(_ search: SavedSearch) -> JSON {
        [
            "searchId": .string(search.id), "name": .string(search.name), "folder": .string(search.folder),
            "definition": .string(search.definition), "searchType": .string(search.searchType), "colorRamp": .string(search.colorRamp),
            "sortIndex": .string(search.sortIndex),
        ]
    }

    static func searches(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let type = request.queryValue("searchType").flatMap { $0 == "All" ? nil : $0 }
        if let type, !SavedSearch.types.contains(type) { throw HTTPError.badRequest("searchType must be Standard, Chart or All.") }
        return .json(["searches": .array(try session.itemRecords.searches(item: caller.item.key, type: type).map(render))])
    }

    /// A search from a body; `definition` may be text or a JSON object (kept as its text).
    static func search(_ body: JSON) throws -> SavedSearch {
        try body.requireKnownKeys(searchFields)
        guard let name = try body.optionalString("name"), !name.isEmpty, name.count <= 500 else {
            throw HTTPError.badRequest("name is required (500 characters at most).")
        }
        let type = try body.optionalString("searchType") ?? "Standard"
        guard SavedSearch.types.contains(type) else { throw HTTPError.badRequest("searchType must be Standard or Chart.") }
        guard let value = body["definition"], !value.isNull else { throw HTTPError.badRequest("definition is required.") }
        let definition = value.stringValue ?? value.serialized
        guard definition.utf8.count <= 64 * 1024 else { throw HTTPError.badRequest("definition is at most 64 KiB.") }
        var search = SavedSearch(
            name: name, folder: try body.optionalString("folder"), searchType: type, definition: definition,
            colorRamp: try body.optionalString("colorRamp"),
            sortIndex: body["sortIndex"].flatMap { $0.stringValue ?? $0.intValue.map(String.init) })
        search.id = try body.optionalString("searchId")
        return search
    }

    static func createSearch(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: WMDefinitions.admins)
        let search = try search(try WorkflowManagerAPI.objectBody(request))
        let id = try WorkflowManagerAPI.translate { try session.itemRecords.create(item: caller.item.key, search, by: caller.user) }
        return .json(["searchId": .string(id)])
    }

    static func updateSearch(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: WMDefinitions.admins)
        let body = try WorkflowManagerAPI.objectBody(request)
        var search = try search(body)
        let id = request.parameter("searchId")
        if let given = search.id, given != id { throw HTTPError.badRequest("searchId in the body must match the URL.") }
        search.id = id
        // Without a searchType the search keeps its own.
        if body["searchType"] == nil || body["searchType"]?.isNull == true {
            guard let stored = try session.itemRecords.search(item: caller.item.key, id: id) else { throw missing(id) }
            search.searchType = stored.searchType
        }
        guard try session.itemRecords.update(item: caller.item.key, search) else { throw missing(id) }
        return .json(WorkflowManagerAPI.success)
    }

    static func deleteSearch(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: WMDefinitions.admins)
        let id = request.parameter("searchId")
        guard try session.itemRecords.delete(item: caller.item.key, id: id) else { throw missing(id) }
        return .json(WorkflowManagerAPI.success)
    }

    static func sharing(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        let id = request.parameter("searchId")
        guard let search = try session.itemRecords.search(item: caller.item.key, id: id) else { throw missing(id) }
        return .json(["groupIds": .array(search.groupIds.map(JSON.string))])
    }

    /// `{"groupIds": [...]}` replaces the groups the search is shared with.
    static func share(_ request: Request, _ session: Session, _ caller: WorkflowManagerAPI.ItemCaller) throws -> Response {
        try WorkflowManagerAPI.require(caller.user, anyOf: WMDefinitions.admins)
        let body = try WorkflowManagerAPI.objectBody(request)
        try body.requireKnownKeys(["groupIds"])
        guard let groups = try body.optionalStringList("groupIds"), groups.count <= 1000 else {
            throw HTTPError.badRequest("groupIds must be a list of at most 1000 group ids.")
        }
        let id = request.parameter("searchId")
        guard try session.itemRecords.share(item: caller.item.key, id: id, groupIds: groups) else { throw missing(id) }
        return .json(WorkflowManagerAPI.success)
    }

    static func missing(_ id: String) -> HTTPError { .badRequest("Search '\(id)' does not exist.") }
}
