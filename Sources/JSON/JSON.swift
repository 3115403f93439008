/// A JSON value that keeps what clients sent: object keys in their order and numbers in their
/// original spelling (`-420.0000061035156` stays exactly that, `-209` never becomes `-209.0`).
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text as it appeared in the document (or as produced by `JSON.number(_:)`).
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.number(a), .number(b)): return a == b || (Double(a) != nil && Double(a) == Double(b))
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            guard a.count == b.count else { return false }
            for (key, value) in a where b.first(where: { $0.0 == key })?.1 != value { return false }
            return true
        default: return false
        }
    }
}

// MARK: - Building values

extension JSON {
    public static func number(_ value: Int) -> JSON { .number(String(value)) }
    public static func number(_ value: Double) -> JSON {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 { return .number(String(Int64(value))) }
        return .number(value.isFinite ? String(value) : "null")
    }
    public static func string(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(String(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
    public init(nilLiteral: ()) { self = .null }
}

// MARK: - Reading values

extension JSON {
    public subscript(key: String) -> JSON? {
        guard case let .object(members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    /// An array element, nil when out of range or not an array.
    public subscript(index: Int) -> JSON? {
        guard case let .array(items) = self, items.indices.contains(index) else { return nil }
        return items[index]
    }

    public var stringValue: String? { if case let .string(s) = self { return s } else { return nil } }
    public var boolValue: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    public var arrayValue: [JSON]? { if case let .array(a) = self { return a } else { return nil } }
    public var objectValue: [(String, JSON)]? { if case let .object(o) = self { return o } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// An integer, only when the number has no fraction or exponent (`3`, not `3.0`).
    public var intValue: Int? { if case let .number(n) = self { return Int(n) } else { return nil } }
    public var doubleValue: Double? { if case let .number(n) = self { return Double(n) } else { return nil } }
    /// A number's text as sent (`3`, `1.5`).
    public var numberText: String? { if case let .number(n) = self { return n } else { return nil } }

    /// The same object with `key` set (replaced in place, or appended at the end).
    public func setting(_ key: String, to value: JSON) -> JSON {
        guard case var .object(members) = self else { return self }
        if let index = members.firstIndex(where: { $0.0 == key }) {
            members[index].1 = value
        } else {
            members.append((key, value))
        }
        return .object(members)
    }
}
