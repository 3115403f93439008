import JSON

/// Optional members of a JSON request body, checked for type (400 when wrong).
extension JSON {
    /// nil when absent or null.
    public func optionalString(_ key: String) throws(HTTPError) -> String? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let text = value.stringValue else { throw .badRequest("\(key) must be a string") }
        return text
    }

    /// nil when absent or null.
    public func optionalStringList(_ key: String) throws(HTTPError) -> [String]? {
        guard let value = self[key], !value.isNull else { return nil }
        guard let items = value.arrayValue, items.allSatisfy({ $0.stringValue != nil }) else {
            throw .badRequest("\(key) must be an array of strings")
        }
        return items.compactMap(\.stringValue)
    }
}

extension JSON {
    /// 400 naming the members of this object that `allowed` does not list: a misspelt field
    /// would otherwise be dropped without a word.
    public func requireKnownKeys(_ allowed: Set<String>) throws(HTTPError) {
        let unknown = (objectValue ?? []).map(\.0).filter { !allowed.contains($0) }
        guard unknown.isEmpty else {
            throw HTTPError(
                400, "Unknown field\(unknown.count == 1 ? "" : "s"): \(unknown.prefix(10).joined(separator: ", "))",
                details: ["Fields: \(allowed.sorted().joined(separator: ", "))"])
        }
    }
}
