import Engine
import Foundation
import HTTP
import JSON
import Scale

/// Query parameters and body fields parsed as Scale does (spec §1.6, §3.5).
enum ScaleQuery {
    /// `true|t|1` / `false|f|0` (trimmed, any case); the last occurrence wins; absent → nil.
    static func boolean(_ request: Request, _ name: String) throws -> Bool? {
        guard let raw = request.queryValues(name).last else { return nil }
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "t", "1": return true
        case "false", "f", "0": return false
        default: throw HTTPError.badRequest("Parameter must be a valid boolean: \"\(name)\"")
        }
    }

    static func jobTypeFilter(_ request: Request) throws -> JobTypeFilter {
        var filter = JobTypeFilter()
        filter.keywords = request.queryValues("keyword").filter { !$0.isEmpty }
        filter.ids = try request.queryValues("id").map { value in
            guard let id = Int64(value.trimmingCharacters(in: .whitespaces)) else {
                throw HTTPError.badRequest("Parameter must be a valid integer: \"id\"")
            }
            return id
        }
        filter.isActive = try boolean(request, "is_active")
        filter.isSystem = try boolean(request, "is_system")
        return filter
    }

    /// `order` fields, left to right, `-` for descending; a field the engine cannot sort by is a 400.
    static func order(_ request: Request) throws -> [JobTypes.Order] {
        try request.queryValues("order").filter { !$0.isEmpty }.map { field in
            let descending = field.hasPrefix("-")
            let name = descending ? String(field.dropFirst()) : field
            guard JobTypes.orderableFields.contains(name) else {
                throw HTTPError.badRequest(
                    "Invalid order field \"\(name)\". Valid fields are: \(JobTypes.orderableFields.joined(separator: ", "))")
            }
            return JobTypes.Order(field: name, descending: descending)
        }
    }

    /// The optional flag fields of POST and PATCH, typed; explicit false/null are honoured (D5).
    static func flags(_ body: JSON) throws -> JobTypeChanges {
        var changes = JobTypeChanges()
        func flag(_ name: String) throws -> Bool? {
            guard let value = body[name] else { return nil }
            guard let flag = value.boolValue else { throw HTTPError.badRequest("Parameter must be a valid boolean: \"\(name)\"") }
            return flag
        }
        changes.isPublished = try flag("is_published")
        changes.isActive = try flag("is_active")
        changes.isPaused = try flag("is_paused")
        _ = try flag("auto_update")  // Flowgate has no recipes to update; the flag is only checked.
        if let icon = body["icon_code"] {
            guard icon.isNull || (icon.stringValue.map { $0.count <= 20 } ?? false) else {
                throw HTTPError.badRequest("Parameter must be a string of at most 20 characters: \"icon_code\"")
            }
            changes.iconCode = .some(icon.stringValue.flatMap { $0.isEmpty ? nil : $0 })
        }
        if let maximum = body["max_scheduled"] {
            if maximum.isNull {
                changes.maxScheduled = .some(nil)
            } else {
                guard let value = maximum.intValue ?? maximum.stringValue.flatMap({ Int($0) }), value >= 1 else {
                    throw HTTPError.badRequest("Parameter must be a valid integer of at least 1: \"max_scheduled\"")
                }
                changes.maxScheduled = .some(value)
            }
        }
        return changes
    }
}
