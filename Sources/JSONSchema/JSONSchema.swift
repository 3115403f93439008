import JSON

/// One reason an instance does not match a schema: where (a JSON pointer into the instance),
/// which keyword refused it, and a message worded like Python's jsonschema (which Scale uses).
public struct SchemaViolation: Sendable, Equatable, CustomStringConvertible {
    public let instancePath: String
    public let keyword: String
    public let message: String

    public var description: String { instancePath.isEmpty ? message : "\(instancePath): \(message)" }
}

/// A JSON Schema, draft-04: every validation keyword (type, enum, the numeric, string, array
/// and object keywords, allOf/anyOf/oneOf/not, dependencies) and local `$ref`s
/// (`#`, `#/definitions/…`, any JSON pointer into the same document). `format` is not checked,
/// as draft-04 allows.
///
/// Validation is bounded: `$ref`s nest at most 64 deep, and one validation takes at most
/// `maxSteps` schema checks (allOf/anyOf/`$ref` can fan out exponentially: a schema of twenty
/// doubling `allOf`s would otherwise run for hours), then fails with one violation saying so.
public struct JSONSchema: Sendable {
    public static let defaultMaxSteps = 100_000
    /// Violations kept per validation; more are counted as none.
    static let maxViolations = 100

    public let root: JSON
    public let maxSteps: Int
    /// A schema Flowgate ships (Scale's): its patterns are compiled as written. Any other
    /// schema's go through `SafePattern`.
    public let trusted: Bool

    public init(_ root: JSON, maxSteps: Int = JSONSchema.defaultMaxSteps, trusted: Bool = false) {
        self.root = root
        self.maxSteps = maxSteps
        self.trusted = trusted
    }

    func compile(_ pattern: String) -> Regex<AnyRegexOutput>? {
        trusted ? try? Regex(pattern) : SafePattern.compile(pattern)
    }

    public func validate(_ instance: JSON) -> [SchemaViolation] {
        let report = Report(budget: Budget(steps: maxSteps))
        check(instance, against: root, at: "", report, depth: 0)
        if report.budget.exhausted {
            return [
                SchemaViolation(
                    instancePath: "", keyword: "budget",
                    message: "the schema takes more than \(maxSteps) steps to check")
            ]
        }
        return report.violations
    }

    /// The checks left for one validation, shared by the scratch reports of anyOf/oneOf/not.
    final class Budget {
        var steps: Int
        var exhausted: Bool { steps < 0 }

        init(steps: Int) { self.steps = steps }
    }

    /// Collects violations while the checks recurse.
    final class Report {
        let budget: Budget
        var violations: [SchemaViolation] = []

        init(budget: Budget) { self.budget = budget }

        func fail(_ path: String, _ keyword: String, _ message: String) {
            guard violations.count < JSONSchema.maxViolations else { return }
            violations.append(SchemaViolation(instancePath: path, keyword: keyword, message: message))
        }
    }

    public func isValid(_ instance: JSON) -> Bool { validate(instance).isEmpty }

    // MARK: Keywords

    private func check(_ instance: JSON, against schema: JSON, at path: String, _ report: Report, depth: Int) {
        func fail(_ keyword: String, _ message: String) { report.fail(path, keyword, message) }
        report.budget.steps -= 1
        guard !report.budget.exhausted else { return }
        guard depth < 64 else { return fail("$ref", "schema references nest too deeply") }
        if let reference = schema["$ref"]?.stringValue {
            // In draft-04 a $ref replaces every sibling keyword.
            guard let target = resolve(reference) else { return fail("$ref", "unresolvable reference \(reference)") }
            return check(instance, against: target, at: path, report, depth: depth + 1)
        }
        if let type = schema["type"] {
            let allowed = type.arrayValue?.compactMap(\.stringValue) ?? type.stringValue.map { [$0] } ?? []
            if !allowed.contains(where: { JSONSchema.matches(instance, type: $0) }) {
                let expected = allowed.count == 1 ? PythonRepr.of(.string(allowed[0])) : PythonRepr.of(type)
                fail("type", "\(PythonRepr.of(instance)) is not of type \(expected)")
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(instance) {
            fail("enum", "\(PythonRepr.of(instance)) is not one of \(PythonRepr.of(.array(options)))")
        }
        checkNumber(instance, schema, fail)
        checkString(instance, schema, fail)
        if case let .array(items) = instance {
            checkArray(items, schema, at: path, report, depth: depth)
        }
        if case let .object(members) = instance {
            checkObject(members, schema, at: path, report, depth: depth)
        }
        checkCombinations(instance, schema, at: path, report, depth: depth)
    }

    private func checkNumber(_ instance: JSON, _ schema: JSON, _ fail: (String, String) -> Void) {
        guard case let .number(text) = instance, let value = Double(text) else { return }
        if let minimum = schema["minimum"]?.doubleValue {
            let exclusive = schema["exclusiveMinimum"]?.boolValue ?? false
            if exclusive ? value <= minimum : value < minimum {
                fail(
                    "minimum", "\(text) is less than \(exclusive ? "or equal to " : "")the minimum of \(PythonRepr.of(schema["minimum"]!))")
            }
        }
        if let maximum = schema["maximum"]?.doubleValue {
            let exclusive = schema["exclusiveMaximum"]?.boolValue ?? false
            if exclusive ? value >= maximum : value > maximum {
                fail(
                    "maximum",
                    "\(text) is greater than \(exclusive ? "or equal to " : "")the maximum of \(PythonRepr.of(schema["maximum"]!))")
            }
        }
        if let divisor = schema["multipleOf"]?.doubleValue, divisor > 0 {
            let quotient = value / divisor
            if abs(quotient - quotient.rounded()) > 1e-9 {
                fail("multipleOf", "\(text) is not a multiple of \(PythonRepr.of(schema["multipleOf"]!))")
            }
        }
    }

    private func checkString(_ instance: JSON, _ schema: JSON, _ fail: (String, String) -> Void) {
        guard case let .string(text) = instance else { return }
        let length = text.unicodeScalars.count
        if let minimum = schema["minLength"]?.intValue, length < minimum { fail("minLength", "\(PythonRepr.of(instance)) is too short") }
        if let maximum = schema["maxLength"]?.intValue, length > maximum { fail("maxLength", "\(PythonRepr.of(instance)) is too long") }
        if let pattern = schema["pattern"]?.stringValue {
            guard let regex = compile(pattern) else { return fail("pattern", "invalid or too costly pattern \(pattern) in the schema") }
            if text.firstMatch(of: regex) == nil {
                fail("pattern", "\(PythonRepr.of(instance)) does not match \(PythonRepr.of(.string(pattern)))")
            }
        }
    }

    private func checkArray(_ items: [JSON], _ schema: JSON, at path: String, _ report: Report, depth: Int) {
        func fail(_ keyword: String, _ message: String) { report.fail(path, keyword, message) }
        if let minimum = schema["minItems"]?.intValue, items.count < minimum {
            fail("minItems", "\(PythonRepr.of(.array(items))) is too short")
        }
        if let maximum = schema["maxItems"]?.intValue, items.count > maximum {
            fail("maxItems", "\(PythonRepr.of(.array(items))) is too long")
        }
        if schema["uniqueItems"]?.boolValue == true {
            for (i, item) in items.enumerated() where items[..<i].contains(item) {
                fail("uniqueItems", "\(PythonRepr.of(.array(items))) has non-unique elements")
                break
            }
        }
        switch schema["items"] {
        case let .array(tuple)?:
            for (index, item) in items.enumerated() {
                if index < tuple.count {
                    check(item, against: tuple[index], at: "\(path)/\(index)", report, depth: depth + 1)
                } else if schema["additionalItems"] == .bool(false) {
                    fail("additionalItems", "Additional items are not allowed")
                    break
                } else if let extra = schema["additionalItems"], case .object = extra {
                    check(item, against: extra, at: "\(path)/\(index)", report, depth: depth + 1)
                }
            }
        case let itemSchema?:
            for (index, item) in items.enumerated() {
                check(item, against: itemSchema, at: "\(path)/\(index)", report, depth: depth + 1)
            }
        case nil:
            break
        }
    }

    private func checkObject(_ members: [(String, JSON)], _ schema: JSON, at path: String, _ report: Report, depth: Int) {
        func fail(_ keyword: String, _ message: String) { report.fail(path, keyword, message) }
        let keys = members.map(\.0)
        if let minimum = schema["minProperties"]?.intValue, keys.count < minimum {
            fail("minProperties", "does not have enough properties")
        }
        if let maximum = schema["maxProperties"]?.intValue, keys.count > maximum { fail("maxProperties", "has too many properties") }
        for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where !keys.contains(required) {
            fail("required", "\(PythonRepr.of(.string(required))) is a required property")
        }
        let properties = schema["properties"]?.objectValue ?? []
        let patterns = (schema["patternProperties"]?.objectValue ?? []).compactMap { pattern, subschema in
            compile(pattern).map { ($0, subschema) }
        }
        var unexpected: [String] = []
        for (key, value) in members {
            let memberPath = "\(path)/\(JSONSchema.escapePointer(key))"
            var matched = false
            if let subschema = properties.first(where: { $0.0 == key })?.1 {
                matched = true
                check(value, against: subschema, at: memberPath, report, depth: depth + 1)
            }
            for (regex, subschema) in patterns where key.firstMatch(of: regex) != nil {
                matched = true
                check(value, against: subschema, at: memberPath, report, depth: depth + 1)
            }
            guard !matched else { continue }
            switch schema["additionalProperties"] {
            case .bool(false)?: unexpected.append(key)
            case let extra? where extra.objectValue != nil:
                check(value, against: extra, at: memberPath, report, depth: depth + 1)
            default: break
            }
        }
        if !unexpected.isEmpty {
            let listed = unexpected.map { PythonRepr.of(.string($0)) }.joined(separator: ", ")
            fail(
                "additionalProperties",
                "Additional properties are not allowed (\(listed) \(unexpected.count == 1 ? "was" : "were") unexpected)")
        }
        for (key, dependency) in schema["dependencies"]?.objectValue ?? [] where keys.contains(key) {
            if let needed = dependency.arrayValue {
                for name in needed.compactMap(\.stringValue) where !keys.contains(name) {
                    fail("dependencies", "\(PythonRepr.of(.string(name))) is a dependency of \(PythonRepr.of(.string(key)))")
                }
            } else {
                check(.object(members), against: dependency, at: path, report, depth: depth + 1)
            }
        }
    }

    private func checkCombinations(_ instance: JSON, _ schema: JSON, at path: String, _ report: Report, depth: Int) {
        func fail(_ keyword: String, _ message: String) { report.fail(path, keyword, message) }
        func passes(_ subschema: JSON) -> Bool {
            let scratch = Report(budget: report.budget)
            check(instance, against: subschema, at: path, scratch, depth: depth + 1)
            return scratch.violations.isEmpty
        }
        for subschema in schema["allOf"]?.arrayValue ?? [] {
            check(instance, against: subschema, at: path, report, depth: depth + 1)
        }
        if let options = schema["anyOf"]?.arrayValue, !options.contains(where: passes) {
            fail("anyOf", "\(PythonRepr.of(instance)) is not valid under any of the given schemas")
        }
        if let options = schema["oneOf"]?.arrayValue {
            let passing = options.filter(passes).count
            if passing == 0 { fail("oneOf", "\(PythonRepr.of(instance)) is not valid under any of the given schemas") }
            if passing > 1 { fail("oneOf", "\(PythonRepr.of(instance)) is valid under each of several of the given schemas") }
        }
        if let forbidden = schema["not"], passes(forbidden) {
            fail("not", "\(PythonRepr.of(forbidden)) is not allowed for \(PythonRepr.of(instance))")
        }
    }

    // MARK: Helpers

    /// A JSON pointer into this schema document (`#`, `#/definitions/name`).
    func resolve(_ reference: String) -> JSON? {
        guard reference.hasPrefix("#") else { return nil }
        var node = root
        for token in reference.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = String(token).replacingPointerEscapes()
            if let array = node.arrayValue {
                guard let index = Int(key), array.indices.contains(index) else { return nil }
                node = array[index]
            } else {
                guard let next = node[key] else { return nil }
                node = next
            }
        }
        return node
    }

    /// Draft-04 types; an "integer" is a number written without a fraction or exponent.
    static func matches(_ instance: JSON, type: String) -> Bool {
        switch (type, instance) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object), ("number", .number):
            return true
        case let ("integer", .number(text)):
            return !text.contains(".") && !text.contains("e") && !text.contains("E")
        default:
            return false
        }
    }

    static func escapePointer(_ key: String) -> String {
        var out = ""
        for character in key {
            switch character {
            case "~": out += "~0"
            case "/": out += "~1"
            default: out.append(character)
            }
        }
        return out
    }
}

private extension String {
    func replacingPointerEscapes() -> String {
        var out = ""
        var iterator = makeIterator()
        while let character = iterator.next() {
            guard character == "~" else {
                out.append(character)
                continue
            }
            switch iterator.next() {
            case "0": out.append("~")
            case "1": out.append("/")
            case let other?: out += "~" + String(other)
            case nil: out.append("~")
            }
        }
        return out
    }
}
