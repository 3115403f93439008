import Engine
import JSON

/// A scheduled workflow: the blocks and edges of the editor's export, validated, with the
/// execution order of the upstream "modified BFS" (spec §5.2).
package struct BlockGraph {
    package struct Block {
        package let key: String
        package let raw: JSON
        package let module: String
        package let type: String
    }

    /// Data flowing along one edge: `output` of block `from` feeds input `input`.
    package struct Source: Equatable {
        package let from: String
        package let output: String
        package let input: String
    }

    package let document: JSON
    package let blocks: [Block]
    /// Incoming sources per block key, in edge order.
    package let sources: [String: [Source]]
    /// Block keys in execution order.
    package let order: [String]

    /// Validates the graph: an object with a non-empty `blocks` array, known module and type per
    /// block, edges between existing blocks joining an output to an input, and no cycle.
    package init(parsing text: String, catalog: BlockCatalog) throws(BlocksError) {
        let document: JSON
        do { document = try JSON.parse(text) } catch { throw BlocksError("workflow is not valid JSON: \(error)") }
        guard case .object = document else { throw BlocksError("workflow must be a JSON object") }
        guard let blockList = document["blocks"]?.arrayValue else { throw BlocksError("workflow.blocks must be an array") }
        guard !blockList.isEmpty else { throw BlocksError("workflow has no blocks") }
        let edgeList = document["edges"] ?? .array([])
        guard let edges = edgeList.arrayValue else { throw BlocksError("workflow.edges must be an array") }

        var blocks: [Block] = []
        var keys = Set<String>()
        for (index, raw) in blockList.enumerated() {
            guard case .object = raw, let id = raw["id"], let key = BlockGraph.key(of: id) else {
                throw BlocksError("block \(index) must be an object with a number or string id")
            }
            guard keys.insert(key).inserted else { throw BlocksError("block id \(key) is used twice") }
            guard let type = raw["type"]?.stringValue, let module = raw["module"]?.stringValue else {
                throw BlocksError("block \(key) needs a type and a module")
            }
            let moduleName = String(module.split(separator: ":", omittingEmptySubsequences: false).last ?? "")
            guard catalog.hasModule(moduleName) else { throw BlocksError("block \(key): unknown module '\(module)'") }
            guard catalog.entry(module: moduleName, type: type) != nil else {
                throw BlocksError("block \(key): module '\(moduleName)' has no block type '\(type)'")
            }
            if let values = raw["values"], values.objectValue == nil {
                throw BlocksError("block \(key): values must be an object")
            }
            blocks.append(Block(key: key, raw: raw, module: moduleName, type: type))
        }

        var sources: [String: [Source]] = [:]
        var successors: [String: [String]] = [:]
        for (index, edge) in edges.enumerated() {
            let name = edge["id"].flatMap(BlockGraph.key) ?? String(index)
            guard let first = edge["block1"].flatMap(BlockGraph.key), let second = edge["block2"].flatMap(BlockGraph.key),
                let connector1 = edge["connector1"]?.arrayValue, let connector2 = edge["connector2"]?.arrayValue,
                let field1 = connector1.first?.stringValue, let field2 = connector2.first?.stringValue
            else {
                throw BlocksError("edge \(name) needs block1, block2, connector1 and connector2")
            }
            guard keys.contains(first), keys.contains(second) else {
                throw BlocksError("edge \(name) refers to a block that is not in the workflow")
            }
            // The end whose connector says "output" is the source, whichever side it is on.
            let firstIsOutput = connector1.contains(.string("output"))
            let secondIsOutput = connector2.contains(.string("output"))
            guard firstIsOutput != secondIsOutput else { throw BlocksError("edge \(name) must join an output to an input") }
            let source =
                firstIsOutput
                ? Source(from: first, output: field1, input: field2)
                : Source(from: second, output: field2, input: field1)
            let target = firstIsOutput ? second : first
            sources[target, default: []].append(source)
            successors[source.from, default: []].append(target)
        }

        let order = BlockGraph.executionOrder(blocks.map(\.key), sources: sources, successors: successors)
        guard order.count == blocks.count else { throw BlocksError("workflow graph has a cycle") }
        self.document = document
        self.blocks = blocks
        self.sources = sources
        self.order = order
    }

    /// Kahn's order with ties broken by block array order, then edge order: a block is queued
    /// once every block feeding it has been queued. Blocks on a cycle are never queued.
    static func executionOrder(_ keys: [String], sources: [String: [Source]], successors: [String: [String]]) -> [String] {
        var queued = Set(keys.filter { sources[$0]?.isEmpty ?? true })
        var queue = keys.filter { queued.contains($0) }
        var order: [String] = []
        var head = 0
        while head < queue.count {
            let key = queue[head]
            head += 1
            order.append(key)
            for next in successors[key] ?? [] where !queued.contains(next) {
                if (sources[next] ?? []).allSatisfy({ queued.contains($0.from) }) {
                    queued.insert(next)
                    queue.append(next)
                }
            }
        }
        return order
    }

    /// Block ids are numbers in the editor's export; strings are accepted too.
    package static func key(of id: JSON) -> String? {
        switch id {
        case let .number(text): return text
        case let .string(text) where !text.isEmpty: return text
        default: return nil
        }
    }
}

/// A refusal in the Blocks surface's own words; rendered as `{"error": message}` with `status`.
package struct BlocksError: Error {
    package let status: Int
    package let message: String

    init(_ message: String, status: Int = 400) {
        self.status = status
        self.message = message
    }
}
