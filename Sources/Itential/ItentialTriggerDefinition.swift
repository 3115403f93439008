import Engine
import JSON
import JSONSchema

/// A trigger as sent to `POST /operations-manager/triggers` (or an update merged onto the
/// stored one): its common members, and its type's members kept as the stored document.
/// `eventSystem` triggers are refused: Flowgate has no event system to hear them.
struct ItentialTriggerDefinition {
    let name: String
    let type: String
    let enabled: Bool
    let actionId: String
    let routeName: String?
    /// Schedules: the first due time, epoch milliseconds.
    let firstRunAt: Double?
    /// The type's members and `description`, as the platform shows them.
    let document: JSON

    static let commonMembers: Set<String> = ["name", "type", "enabled", "actionType", "actionId", "description"]
    /// What the platform adds; an exported trigger sent back carries them.
    static let platformMembers: Set<String> = [
        "_id", "created", "createdBy", "lastUpdated", "lastUpdatedBy", "lastExecuted", "migrationVersion", "nextRunAt",
    ]
    static let formMembers: Set<String> = ["formId", "formData", "formSchemaHash", "legacyWrapper"]
    static let scheduleMembers: Set<String> = [
        "firstRunAt", "processMissedRuns", "repeatUnit", "repeatFrequency", "repeatInterval", "stopRunningAt",
    ]
    static let typeMembers: [String: Set<String>] = [
        "manual": formMembers, "endpoint": ["verb", "routeName", "schema", "jst"], "schedule": formMembers.union(scheduleMembers),
    ]
    /// Milliseconds per repeat unit.
    static let units: [String: Double] = ["minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 604_800_000]
    /// A schedule repeats at most once a minute and at least once a year.
    static let intervals: ClosedRange<Double> = 60_000...31_622_400_000
    /// Due times from 1970 to 9999.
    static let times: ClosedRange<Double> = 0...253_402_300_799_000

    init(_ body: JSON) throws {
        guard let members = body.objectValue else { throw EngineError(.invalid, "The body must be a JSON object") }
        guard let type = body["type"]?.stringValue else { throw EngineError(.invalid, "type is required: manual, endpoint or schedule") }
        if type == "eventSystem" {
            throw EngineError(.invalid, "eventSystem triggers are not supported: Flowgate has no event system to start them")
        }
        guard let allowed = Self.typeMembers[type] else { throw EngineError(.invalid, "type must be manual, endpoint or schedule") }
        if let unknown = members.map(\.0).first(where: {
            !Self.commonMembers.contains($0) && !Self.platformMembers.contains($0) && !allowed.contains($0)
        }) {
            throw EngineError(.invalid, "body must NOT have additional properties: \(unknown)")
        }
        guard let name = body["name"]?.stringValue, !name.isEmpty, name.utf8.count <= 500 else {
            throw EngineError(.invalid, "name must be a string of 1 to 500 characters")
        }
        guard body["actionType"] == nil || body["actionType"] == "automations" else {
            throw EngineError(.invalid, "actionType must be automations")
        }
        guard let actionId = body["actionId"]?.stringValue, !actionId.isEmpty else {
            throw EngineError(.invalid, "actionId is required: the id of the automation to run")
        }
        guard let isEnabled = (body["enabled"] ?? true).boolValue else { throw EngineError(.invalid, "enabled must be a boolean") }
        let description = body["description"] ?? .null
        guard description.isNull || (description.stringValue?.utf8.count ?? .max) <= 10_000 else {
            throw EngineError(.invalid, "description must be a string of at most 10000 characters, or null")
        }
        self.name = name
        self.type = type
        self.enabled = isEnabled
        self.actionId = actionId
        var document: [(String, JSON)] = [("description", description)]
        switch type {
        case "endpoint":
            (routeName, firstRunAt) = (try Self.endpoint(body, into: &document), nil)
        case "schedule":
            try Self.form(body, into: &document)
            (routeName, firstRunAt) = (nil, try Self.schedule(body, into: &document))
        default:
            try Self.form(body, into: &document)
            (routeName, firstRunAt) = (nil, nil)
        }
        self.document = .object(document)
    }

    /// `verb` POST, a `routeName` of one URL segment, a JSON Schema for the body (by default any
    /// object) and no transformation (`jst`: Flowgate runs none).
    static func endpoint(_ body: JSON, into document: inout [(String, JSON)]) throws -> String {
        guard (body["verb"] ?? "POST") == "POST" else { throw EngineError(.invalid, "verb must be POST") }
        guard let route = body["routeName"]?.stringValue, (1...100).contains(route.utf8.count),
            route.utf8.allSatisfy({
                $0 == 45 || $0 == 95 || $0 == 46 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0)
            })
        else {
            throw EngineError(.invalid, "routeName must be 1 to 100 letters, digits, '-', '_' or '.'")
        }
        let schema = body["schema"].flatMap { $0.isNull ? nil : $0 } ?? ["type": "object", "properties": [:], "additionalProperties": true]
        guard case .object = schema, schema.serializedBytes.count <= 100_000 else {
            throw EngineError(.invalid, "schema must be a JSON Schema object of at most 100000 bytes")
        }
        guard (body["jst"] ?? .null).isNull else {
            throw EngineError(.invalid, "jst must be null: Flowgate runs no transformations on endpoint bodies")
        }
        document += [("verb", "POST"), ("routeName", .string(route)), ("schema", schema), ("jst", .null)]
        return route
    }

    /// A manual (or scheduled) run's form: `formData` becomes the job variables.
    static func form(_ body: JSON, into document: inout [(String, JSON)]) throws {
        let formData = body["formData"].flatMap { $0.isNull ? nil : $0 } ?? [:]
        guard case .object = formData, formData.serializedBytes.count <= 1_000_000 else {
            throw EngineError(.invalid, "formData must be an object of at most 1 MB")
        }
        for key in ["formId", "formSchemaHash"] {
            let value = body[key] ?? .null
            guard value.isNull || (value.stringValue?.utf8.count ?? .max) <= 500 else {
                throw EngineError(.invalid, "\(key) must be a string or null")
            }
            document.append((key, value))
        }
        guard let legacy = (body["legacyWrapper"] ?? false).boolValue else {
            throw EngineError(.invalid, "legacyWrapper must be a boolean")
        }
        document += [("formData", formData), ("legacyWrapper", .bool(legacy))]
    }

    /// `firstRunAt` (epoch ms), an optional repeat (`repeatUnit` × `repeatFrequency`, or
    /// `repeatInterval` in ms) and what to do with runs missed while nothing ran
    /// (`processMissedRuns`: `none` or `last`). Returns the first due time.
    static func schedule(_ body: JSON, into document: inout [(String, JSON)]) throws -> Double {
        guard let first = body["firstRunAt"]?.doubleValue, Self.times.contains(first), first == first.rounded() else {
            throw EngineError(.invalid, "firstRunAt is required: the first run time in epoch milliseconds")
        }
        let missed = body["processMissedRuns"] ?? "none"
        guard missed == "none" || missed == "last" else { throw EngineError(.invalid, "processMissedRuns must be none or last") }
        var interval = (body["repeatInterval"] ?? .null).isNull ? nil : body["repeatInterval"]?.doubleValue ?? -1
        let unit = (body["repeatUnit"] ?? .null).isNull ? nil : body["repeatUnit"]?.stringValue ?? ""
        let frequency = (body["repeatFrequency"] ?? .null).isNull ? nil : body["repeatFrequency"]?.doubleValue ?? -1
        if unit != nil || frequency != nil {
            guard let unit, let milliseconds = Self.units[unit] else {
                throw EngineError(.invalid, "repeatUnit must be minute, hour, day or week")
            }
            guard let frequency, frequency >= 1, frequency <= 10_000, frequency == frequency.rounded() else {
                throw EngineError(.invalid, "repeatFrequency must be a whole number from 1 to 10000")
            }
            let derived = milliseconds * frequency
            guard interval == nil || interval == derived else {
                throw EngineError(.invalid, "repeatInterval must be repeatUnit × repeatFrequency in milliseconds (\(Int(derived)))")
            }
            interval = derived
        }
        if let interval, !Self.intervals.contains(interval) || interval != interval.rounded() {
            throw EngineError(
                .invalid, "A schedule repeats at most once a minute and at least once a year (repeatInterval in milliseconds)")
        }
        let stop = (body["stopRunningAt"] ?? .null).isNull ? nil : body["stopRunningAt"]?.doubleValue ?? -1
        if let stop, !Self.times.contains(stop) || stop != stop.rounded() || stop < first {
            throw EngineError(.invalid, "stopRunningAt must be a time in epoch milliseconds, not before firstRunAt")
        }
        document += [
            ("firstRunAt", .number(first)), ("processMissedRuns", missed), ("repeatUnit", unit.map(JSON.string) ?? .null),
            ("repeatFrequency", frequency.map { .number($0) } ?? .null), ("repeatInterval", interval.map { .number($0) } ?? .null),
            ("stopRunningAt", stop.map { .number($0) } ?? .null),
        ]
        return first
    }
}

/// When a schedule fires. Its due times are `nextRunAt`, then every `interval` after. A check at
/// `now` fires the latest due time that has passed, once: if it passed within `grace` (the
/// runners poll far more often), or it is late (nothing ran when it was due) and the trigger
/// processes missed runs (`last`). Earlier missed due times never fire. The next due time is
/// the one after it; a schedule without a repeat is done, and so is one whose next due time
/// would come after its `stopRunningAt` (`stop`).
package enum ItentialSchedule {
    package static let grace: Double = 60_000

    package static func plan(
        nextRunAt: Double, interval: Double?, now: Double, missedRuns: String, stop: Double? = nil
    ) -> (fire: Double?, next: Double?) {
        let end = stop ?? .infinity
        guard nextRunAt <= end else { return (nil, nil) }
        guard nextRunAt <= now else { return (nil, nextRunAt) }
        var latest = nextRunAt
        if let interval, interval > 0 { latest += ((min(now, end) - nextRunAt) / interval).rounded(.down) * interval }
        let onTime = now - latest <= grace
        let next = interval.map { latest + $0 }.flatMap { $0 <= end ? $0 : nil }
        return (onTime || missedRuns == "last" ? latest : nil, next)
    }
}
