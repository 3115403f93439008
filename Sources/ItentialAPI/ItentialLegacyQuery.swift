import Engine
import HTTP
import Itential
import JSON

/// The legacy WorkFlowEngine search bodies' Mongo-style grammar, mapped onto the Operations
/// Manager search (`ItentialSearch`): a `query` (or `filter`) of `{path: value}` equalities
/// and `{path: {$op: value}}` conditions ($eq, $ne, $in, $nin, $gt, $gte, $lt, $lte, $exists,
/// and $regex when it is a literal, `^literal` or `literal$`); `fields`, a projection of 1s or
/// of 0s; `sort`, `{path: 1 | -1}`; `skip` and `limit` (0: the largest page). Anything else is
/// 400: a condition silently dropped would answer more than was asked.
enum ItentialLegacyQuery {
    static let defaultLimit = 100

    /// `conditions` are the query objects the body gives (all must hold).
    static func search(
        conditions: [JSON], fields: JSON?, sort: (path: [String], descending: Bool)?, skip: JSON?, limit: JSON?, caller: User
    ) throws -> ItentialSearchQuery {
        var filters: [ItentialSearch.Filter] = []
        for condition in conditions { filters += try Self.filters(condition) }
        guard filters.count <= ItentialSearchQuery.maxFilters else {
            throw HTTPError.badRequest("more than \(ItentialSearchQuery.maxFilters) conditions")
        }
        var pageSize = try count(limit, "limit") ?? defaultLimit
        if pageSize == 0 || pageSize > ItentialSearchQuery.maxLimit { pageSize = ItentialSearchQuery.maxLimit }
        let (include, exclude) = try projection(fields)
        let search = ItentialSearch(
            filters: filters, sortPath: sort?.path ?? ["metrics", "start_time"], descending: sort?.descending ?? false,
            limit: pageSize, skip: try count(skip, "skip") ?? 0, visibleGroups: ItentialAccess.visibleGroups(caller))
        return ItentialSearchQuery(search: search, include: include, exclude: exclude)
    }

    static func filters(_ query: JSON) throws -> [ItentialSearch.Filter] {
        if query.isNull { return [] }
        guard let members = query.objectValue else { throw HTTPError.badRequest("query must be an object") }
        var filters: [ItentialSearch.Filter] = []
        for (field, condition) in members {
            guard !field.hasPrefix("$") else { throw HTTPError.badRequest("\(field) is not supported: list the conditions in one object") }
            let path = ItentialSearchQuery.path(field)
            if let operators = condition.objectValue, operators.first?.0.hasPrefix("$") == true {
                for (op, value) in operators where op != "$options" { filters.append(try filter(op, value, path, field)) }
            } else if condition.objectValue != nil || condition.arrayValue != nil {
                throw HTTPError.badRequest("\(field): compare the members of a sub-document by their dotted paths")
            } else {
                filters.append(try filter("$eq", condition, path, field))
            }
        }
        return filters
    }

    static let comparisons: [String: ItentialSearch.Operator] = [
        "$eq": .equals, "$ne": .notEquals, "$gt": .gt, "$gte": .gte, "$lt": .lt, "$lte": .lte, "$in": .isIn, "$nin": .notIn,
        "$exists": .exists,
    ]

    static func filter(_ op: String, _ value: JSON, _ path: [String], _ field: String) throws -> ItentialSearch.Filter {
        if op == "$regex" { return try regex(value, path, field) }
        guard let mapped = comparisons[op] else { throw HTTPError.badRequest("\(field): the operator \(op) is not supported") }
        switch mapped {
        case .isIn, .notIn:
            guard let list = value.arrayValue, !list.isEmpty, list.allSatisfy({ $0.objectValue == nil && $0.arrayValue == nil }) else {
                throw HTTPError.badRequest("\(field): \(op) needs a non-empty array of values")
            }
            let texts = list.map(ItentialSearchQuery.text)
            guard !texts.contains(where: { $0.contains(",") }) else {
                throw HTTPError.badRequest("\(field): \(op) values cannot contain commas")
            }
            return ItentialSearch.Filter(mapped, path: path, value: texts.joined(separator: ","), number: nil)
        case .exists:
            guard let flag = value.boolValue else { throw HTTPError.badRequest("\(field): $exists needs true or false") }
            return ItentialSearch.Filter(.exists, path: path, value: flag ? "true" : "false", number: nil)
        default:
            guard value.objectValue == nil, value.arrayValue == nil else {
                throw HTTPError.badRequest("\(field): \(op) needs a single value")
            }
            let text = ItentialSearchQuery.text(value)
            return ItentialSearch.Filter(mapped, path: path, value: text, number: value.doubleValue ?? ItentialSearchQuery.number(text))
        }
    }

    /// Only regular expressions that are text: `abc` (contains), `^abc`, `abc$`, `^abc$`.
    static func regex(_ value: JSON, _ path: [String], _ field: String) throws -> ItentialSearch.Filter {
        guard var pattern = value.stringValue else { throw HTTPError.badRequest("\(field): $regex needs a string") }
        let anchoredStart = pattern.hasPrefix("^")
        if anchoredStart { pattern.removeFirst() }
        let anchoredEnd = pattern.hasSuffix("$")
        if anchoredEnd { pattern.removeLast() }
        guard !pattern.isEmpty, !pattern.contains(where: { ".*+?()[]{}|\\^$".contains($0) }) else {
            throw HTTPError.badRequest("\(field): only literal text, ^text or text$ is supported in $regex")
        }
        let op: ItentialSearch.Operator =
            switch (anchoredStart, anchoredEnd) {
            case (true, true): .equals
            case (true, false): .startsWith
            case (false, true): .endsWith
            case (false, false): .contains
            }
        return ItentialSearch.Filter(op, path: path, value: pattern, number: nil)
    }

    /// `{path: 1, …}` includes, `{path: 0, …}` excludes (`_id: 0` goes with either).
    static func projection(_ fields: JSON?) throws -> (include: [[String]], exclude: [[String]]) {
        guard let fields, !fields.isNull else { return ([], []) }
        guard let members = fields.objectValue else { throw HTTPError.badRequest("fields must be an object of 1s or 0s") }
        var include: [[String]] = []
        var exclude: [[String]] = []
        for (field, flag) in members {
            let on = flag.boolValue ?? flag.doubleValue.map { $0 != 0 }
            guard let on else { throw HTTPError.badRequest("fields.\(field) must be 1 or 0") }
            if on { include.append(ItentialSearchQuery.path(field)) } else { exclude.append(ItentialSearchQuery.path(field)) }
        }
        if !include.isEmpty, exclude.contains(where: { $0 != ["_id"] }) {
            throw HTTPError.badRequest("fields cannot mix 1s and 0s (except _id: 0)")
        }
        return (include, exclude)
    }

    /// `{path: 1 | -1}`, one path.
    static func sort(_ sort: JSON?) throws -> (path: [String], descending: Bool)? {
        guard let sort, !sort.isNull else { return nil }
        guard let members = sort.objectValue, members.count == 1, let direction = members[0].1.doubleValue, abs(direction) == 1 else {
            throw HTTPError.badRequest("sort must be one {\"<path>\": 1 or -1}")
        }
        return (ItentialSearchQuery.path(members[0].0), direction < 0)
    }

    static func count(_ value: JSON?, _ name: String) throws -> Int? {
        guard let value, !value.isNull else { return nil }
        guard let number = value.doubleValue, number >= 0, number == number.rounded(), number <= 1e9 else {
            throw HTTPError.badRequest("\(name) must be a non-negative integer")
        }
        return Int(number)
    }
}
