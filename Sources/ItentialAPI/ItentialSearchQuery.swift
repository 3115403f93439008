import Engine
import HTTP
import Itential
import JSON

/// The Operations Manager search grammar (spec §4.5): `limit`, `skip`, `sort`, `order`,
/// `include`/`exclude` and filters `op[dotted.field]=value`, from the query string or, as
/// iap-sdk sends it, from a GET body `{"queryParameters": {...}}`. Unknown operators are ignored,
/// as on the real platform.
struct ItentialSearchQuery {
    let search: ItentialSearch
    let include: [[String]]
    let exclude: [[String]]

    static let defaultLimit = 25
    /// The largest page; `limit=0` (everything, on the platform) and larger limits get this.
    static let maxLimit = 1000
    /// Filters per search: each binds parameters, and PostgreSQL takes at most 65,535.
    static let maxFilters = 100

    /// The search as `caller` may run it: over the jobs (and their tasks) they may reach.
    init(_ request: Request, caller: User) throws {
        var parameters = request.query.filter { $0.0 != "token" }
        if parameters.isEmpty, !request.body.isEmpty, let body = try? JSON.parse(request.body) {
            parameters = Self.flatten(body["queryParameters"] ?? body)
        }
        var filters: [ItentialSearch.Filter] = []
        var limit = Self.defaultLimit
        var skip = 0
        var sort = ["metrics", "start_time"]
        var descending = false
        var include: [[String]] = []
        var exclude: [[String]] = []
        for (name, value) in parameters {
            switch name {
            case "limit":
                limit = try Self.count(name, value)
                if limit == 0 || limit > Self.maxLimit { limit = Self.maxLimit }
            case "skip": skip = try Self.count(name, value)
            case "sort": sort = Self.path(value)
            case "order":
                guard ["1", "-1", "asc", "desc"].contains(value) else { throw HTTPError.badRequest("order must be 1 or -1") }
                descending = value == "-1" || value == "desc"
            case "include": include = value.split(separator: ",").map { Self.path(String($0)) }
            case "exclude": exclude = value.split(separator: ",").map { Self.path(String($0)) }
            default:
                guard let open = name.firstIndex(of: "["), name.last == "]",
                    let op = ItentialSearch.Operator(rawValue: String(name[..<open]))
                else { continue }
                let field = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
                filters.append(ItentialSearch.Filter(op, path: Self.path(field), value: value, number: Self.number(value)))
                guard filters.count <= Self.maxFilters else { throw HTTPError.badRequest("more than \(Self.maxFilters) filters") }
            }
        }
        if !include.isEmpty, exclude.contains(where: { $0 != ["_id"] }) {
            throw HTTPError.badRequest("include and exclude cannot be used together (except exclude=_id)")
        }
        search = ItentialSearch(
            filters: filters, sortPath: sort, descending: descending, limit: limit, skip: skip,
            visibleGroups: ItentialAccess.visibleGroups(caller))
        self.include = include
        self.exclude = exclude
    }

    /// A search built from another grammar (the legacy Mongo-style bodies).
    init(search: ItentialSearch, include: [[String]], exclude: [[String]]) {
        self.search = search
        self.include = include
        self.exclude = exclude
    }

    static func path(_ field: String) -> [String] { field.split(separator: ".").map(String.init) }

    static func count(_ name: String, _ value: String) throws -> Int {
        guard let number = Int(value), number >= 0 else { throw HTTPError.badRequest("\(name) must be a non-negative integer") }
        return number
    }

    /// Numbers compare as numbers; dates (`2021-11-18`, `2021-11-18T23:59:59`, with or without
    /// a zone) as epoch milliseconds, like the `metrics.*_time` fields they are compared with.
    static func number(_ value: String) -> Double? {
        if let number = Double(value) { return number }
        let zoned = value.count == 10 ? value + "T00:00:00Z" : value.count == 19 ? value + "Z" : value
        return Timestamp.parse(zoned).map { $0 * 1000 }
    }

    /// iap-sdk's body form: `{"limit": 5, "in": {"status": ["running"]}, "equals": {"name": "x"}}`.
    static func flatten(_ body: JSON) -> [(String, String)] {
        (body.objectValue ?? []).flatMap { name, value -> [(String, String)] in
            if let members = value.objectValue { return members.map { ("\(name)[\($0.0)]", text($0.1)) } }
            return [(name, text(value))]
        }
    }

    static func text(_ value: JSON) -> String {
        if let list = value.arrayValue { return list.map(text).joined(separator: ",") }
        return value.stringValue ?? value.numberText ?? value.boolValue.map { $0 ? "true" : "false" } ?? ""
    }

    /// The document as `include`/`exclude` ask: `_id` stays unless excluded.
    func project(_ document: JSON) -> JSON {
        var result = document
        if !include.isEmpty {
            result = [:]
            for path in [["_id"]] + include { if let value = Self.value(document, path) { result = Self.set(result, path, value) } }
        }
        for path in exclude { result = Self.remove(result, path) }
        return result
    }

    static func value(_ document: JSON, _ path: [String]) -> JSON? {
        path.reduce(Optional(document)) { $0?[$1] }
    }

    static func set(_ document: JSON, _ path: [String], _ value: JSON) -> JSON {
        guard let first = path.first else { return value }
        let child = document[first] ?? [:]
        return document.setting(first, to: path.count == 1 ? value : set(child, Array(path.dropFirst()), value))
    }

    static func remove(_ document: JSON, _ path: [String]) -> JSON {
        guard let first = path.first, var members = document.objectValue,
            let index = members.firstIndex(where: { $0.0 == first })
        else { return document }
        if path.count == 1 {
            members.remove(at: index)
        } else {
            members[index].1 = remove(members[index].1, Array(path.dropFirst()))
        }
        return .object(members)
    }

    /// Operations Manager's list envelope with exact paging metadata.
    func envelope<Item>(_ page: ItentialSearch.Page<Item>, render: (Item) -> JSON) -> Response {
        ItentialAPI.envelope(
            "Successfully retrieved search results", .array(page.items.map { project(render($0)) }),
            metadata: ["total": .number(page.total), "skip": .number(search.skip), "limit": .number(search.limit)])
    }
}
