import Engine
import JSON

/// One field of a block, as the palette (`/api/workflow/initialize`) lists it.
struct BlockField {
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
            return ["name": .string(name), "type": .string(type), "defaultValue": .string(defaultValue),
                    "description": "", "attrs": "editable"]
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
        ["module": .string("\(module).zip:\(module)"), "name": .string(name), "owner": "guest@guest.com",
         "public": false, "description": "", "family": .string(family), "fields": .array(fields.map(\.json))]
    }

    var taskKind: String { "blocks:\(module).\(name)" }
}

extension BlockField: @unchecked Sendable {}

/// The blocks Flowgate can run, by module.
struct BlockCatalog: Sendable {
    let definitions: [BlockDefinition]

    static let native = BlockCatalog(definitions: Arithmetic.blocks)

    func hasModule(_ module: String) -> Bool { definitions.contains { $0.module == module } }

    func definition(module: String, type: String) -> BlockDefinition? {
        definitions.first { $0.module == module && $0.name == type }
    }
}

/// Runs one block on the engine's runner: parameters from the block's `values`, inputs from the
/// outputs of the blocks feeding it (an edge overrides a same-named value; the last edge wins).
struct BlockTaskKind: TaskKind {
    let definition: BlockDefinition
    var name: String { definition.taskKind }

    func run(_ context: TaskContext) -> TaskOutcome {
        var data: [String: PythonValue] = [:]
        for (key, value) in context.input["values"]?.objectValue ?? [] { data[key] = PythonValue(value) }
        for source in context.input["sources"]?.arrayValue ?? [] {
            guard let from = source["from"]?.stringValue, let output = source["output"]?.stringValue,
                  let input = source["input"]?.stringValue else { continue }
            guard let value = context.upstream[from]?[output] else {
                return .failed(PythonError(type: "KeyError", message: PythonValue.stringRepr(output)).line)
            }
            data[input] = PythonValue(value)
        }
        do {
            let outputs = try definition.compute(data)
            return .succeeded(.object(outputs.map { ($0.0, $0.1.json) }))
        } catch {
            return .failed(error.line)
        }
    }
}
