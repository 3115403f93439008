import Engine
import JSON

/// One field of a block, as the palette (`/api/workflow/initialize`) lists it.
struct BlockField: Sendable {
    enum Role {
        case input
        case output
        /// An editable parameter with its default, as text.
        case parameter(defaultValue: String)
    }

    let name: String
    let type: String
    let role: Role

    var json: JSON {
        switch role {
        case .input, .output:
            let attrs = if case .input = role { "input" } else { "output" }
            return ["name": .string(name), "type": .string(type), "card": "1-1", "attrs": .string(attrs)]
        case let .parameter(defaultValue):
            return [
                "name": .string(name), "type": .string(type), "defaultValue": .string(defaultValue),
                "description": "", "attrs": "editable",
            ]
        }
    }
}

/// A block type: its palette entry and what it computes from its inputs and parameters.
struct BlockDefinition: Sendable {
    let module: String
    let name: String
    let family: String
    let fields: [BlockField]
    /// Reads parameters and inputs from one dict keyed by field name (as upstream blocks do).
    let compute: @Sendable ([String: PythonValue]) throws(PythonError) -> [(String, PythonValue)]

    var paletteEntry: JSON {
        [
            "module": .string("\(module).zip:\(module)"), "name": .string(name), "owner": "guest@guest.com",
            "public": false, "description": "", "family": .string(family), "fields": .array(fields.map(\.json)),
        ]
    }

    var taskKind: String { "blocks:\(module).\(name)" }
}

/// The blocks Flowgate can run: the native Arithmetic module and every uploaded module.
package struct BlockCatalog {
    package struct Entry {
        package let module: String
        package let name: String
        package let paletteEntry: JSON
        /// Which task kind runs it: one per native block, `blocks:python` for uploaded ones.
        package let taskKind: String
    }

    package let entries: [Entry]

    static let native = Arithmetic.blocks.map {
        Entry(module: $0.module, name: $0.name, paletteEntry: $0.paletteEntry, taskKind: $0.taskKind)
    }

    /// Native blocks, then uploaded modules in upload order.
    package static func current(_ session: Session) throws -> BlockCatalog {
        let uploaded = try session.files.modules(surface: .blocks).flatMap { module in
            (module.metadata["blocks"]?.arrayValue ?? []).compactMap { block -> Entry? in
                guard let name = block["name"]?.stringValue else { return nil }
                let palette: JSON = [
                    "module": .string("\(module.name).zip:\(module.name)"), "name": .string(name),
                    "owner": "guest@guest.com", "public": false,
                    "description": block["description"] ?? "", "family": block["family"] ?? "",
                    "fields": .array((block["fields"]?.arrayValue ?? []).map(canonicalField)),
                ]
                return Entry(module: module.name, name: name, paletteEntry: palette, taskKind: PythonBlockKind.kindName)
            }
        }
        return BlockCatalog(entries: native + uploaded)
    }

    /// Stored metadata is jsonb, which reorders keys; the palette shows them as native fields do.
    static func canonicalField(_ field: JSON) -> JSON {
        let order =
            field["attrs"] == "editable"
            ? ["name", "type", "defaultValue", "description", "attrs"]
            : ["name", "type", "card", "attrs"]
        return .object(order.compactMap { key in field[key].map { (key, $0) } })
    }

    package func hasModule(_ module: String) -> Bool { entries.contains { $0.module == module } }

    package func entry(module: String, type: String) -> Entry? {
        entries.first { $0.module == module && $0.name == type }
    }
}

/// A block's input dict, as upstream builds it: its `values`, then the outputs of the blocks
/// feeding it (an edge overrides a same-named value; the last edge wins).
enum BlockInputs {
    static func assemble(_ context: TaskContext) -> Result<[(String, JSON)], PythonError> {
        var data = context.input["values"]?.objectValue ?? []
        for source in context.input["sources"]?.arrayValue ?? [] {
            guard let from = source["from"]?.stringValue, let output = source["output"]?.stringValue,
                let input = source["input"]?.stringValue
            else { continue }
            guard let value = context.upstream[from]?[output] else {
                return .failure(PythonError(type: "KeyError", message: PythonValue.stringRepr(output)))
            }
            data.removeAll { $0.0 == input }
            data.append((input, value))
        }
        return .success(data)
    }
}

/// Runs one native block on the engine's runner.
struct BlockTaskKind: TaskKind {
    let definition: BlockDefinition
    var name: String { definition.taskKind }

    func run(_ context: TaskContext) -> TaskOutcome {
        do {
            let data = try BlockInputs.assemble(context).get()
            let outputs = try definition.compute(Dictionary(data.map { ($0.0, PythonValue($0.1)) }, uniquingKeysWith: { _, last in last }))
            return .succeeded(.object(outputs.map { ($0.0, $0.1.json) }))
        } catch {
            return .failed(error.line)
        }
    }
}
