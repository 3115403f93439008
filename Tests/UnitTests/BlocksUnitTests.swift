import Engine
import JSON
import XCTest

@testable import Blocks
@testable import BlocksAPI
@testable import Itential
@testable import Scale
@testable import WorkflowManager

final class PythonValueTests: XCTestCase {
    func testReprMatchesPython() {
        XCTAssertEqual(PythonValue.dictRepr([("output", .str("40"))]), "{'output': '40'}")
        XCTAssertEqual(PythonValue.dictRepr([("output", .int(70))]), "{'output': 70}")
        XCTAssertEqual(PythonValue.dictRepr([("output", .float(5))]), "{'output': 5.0}")
        XCTAssertEqual(PythonValue.dictRepr([("a", .int(1)), ("b", .str("x"))]), "{'a': 1, 'b': 'x'}")
        XCTAssertEqual(PythonValue.dictRepr([]), "{}")
        XCTAssertEqual(PythonValue.str("it's").repr, "\"it's\"")
        XCTAssertEqual(PythonValue.str("a'\"b").repr, "'a\\'\"b'")
        XCTAssertEqual(PythonValue.str("tab\there\n").repr, "'tab\\there\\n'")
        XCTAssertEqual(PythonValue.float(0.1).repr, "0.1")
        XCTAssertEqual(PythonValue.float(1e16).repr, "1e+16")
        XCTAssertEqual(PythonValue.float(-.infinity).repr, "-inf")
    }

    func testIntFollowsPythonRules() throws {
        XCTAssertEqual(try PythonValue.str(" 42\n").toInt(), 42)
        XCTAssertEqual(try PythonValue.str("-7").toInt(), -7)
        XCTAssertEqual(try PythonValue.str("+1_000").toInt(), 1000)
        XCTAssertEqual(try PythonValue.float(2.9).toInt(), 2)
        XCTAssertEqual(try PythonValue.float(-2.9).toInt(), -2)
        XCTAssertEqual(try PythonValue.bool(true).toInt(), 1)
        for bad in ["2.5", "", " ", "1__0", "_1", "1_", "0x10", "١٢", "abc"] {
            XCTAssertThrowsError(try PythonValue.str(bad).toInt(), bad) {
                XCTAssertEqual(
                    ($0 as? PythonError)?.line, "ValueError: invalid literal for int() with base 10: \(PythonValue.stringRepr(bad))")
            }
        }
        XCTAssertThrowsError(try PythonValue.float(.nan).toInt())
        XCTAssertThrowsError(try PythonValue.none.toInt())
    }

    func testJSONKeepsPythonTypes() {
        XCTAssertEqual(PythonValue(.string("40")), .str("40"))
        XCTAssertEqual(PythonValue(.number("40")), .int(40))
        XCTAssertEqual(PythonValue(.number("5.0")), .float(5))
        XCTAssertEqual(PythonValue.float(5).json, .number("5.0"))
        XCTAssertEqual(PythonValue(PythonValue.float(5).json), .float(5))
    }
}

final class BlockGraphTests: XCTestCase {
    let catalog = BlockCatalog(entries: BlockCatalog.native)

    func arithmetic(_ name: String) -> BlockTaskKind {
        BlockTaskKind(definition: Arithmetic.blocks.first { $0.name == name }!)
    }

    func graph(_ blocks: [(Int, String)], _ edges: [(Int, String, Int, String)]) -> String {
        let blockJSON = blocks.map { id, type -> JSON in
            ["id": .number(id), "type": .string(type), "module": "Arithmetic.zip:Arithmetic", "values": ["constant value": "1"]]
        }
        let edgeJSON = edges.enumerated().map { index, edge -> JSON in
            [
                "id": .number(index), "block1": .number(edge.0),
                "connector1": [.string(edge.1), edge.1.hasPrefix("num") ? "input" : "output"],
                "block2": .number(edge.2), "connector2": [.string(edge.3), edge.3.hasPrefix("num") ? "input" : "output"],
            ]
        }
        return JSON.object([("edges", .array(edgeJSON)), ("blocks", .array(blockJSON))]).serialized
    }

    func testOrderFollowsArrayThenEdgeOrder() throws {
        let diamond = try BlockGraph(
            parsing: graph(
                [(4, "Addition"), (1, "Constant"), (3, "Addition"), (2, "Addition")],
                [
                    (1, "output", 3, "num1"), (1, "output", 2, "num1"), (3, "output", 4, "num1"),
                    (2, "output", 4, "num2"),
                ]), catalog: catalog)
        XCTAssertEqual(diamond.order, ["1", "3", "2", "4"])
        let independent = try BlockGraph(parsing: graph([(2, "Constant"), (1, "Constant")], []), catalog: catalog)
        XCTAssertEqual(independent.order, ["2", "1"])
    }

    func testReversedEdgesAndSources() throws {
        let reversed = try BlockGraph(parsing: graph([(3, "Addition"), (1, "Constant")], [(3, "num1", 1, "output")]), catalog: catalog)
        XCTAssertEqual(reversed.order, ["1", "3"])
        XCTAssertEqual(reversed.sources["3"], [BlockGraph.Source(from: "1", output: "output", input: "num1")])
    }

    func testRefusals() {
        func message(_ text: String) -> String? {
            do {
                _ = try BlockGraph(parsing: text, catalog: catalog)
                return nil
            } catch { return error.message }
        }
        XCTAssertEqual(
            message(graph([(1, "Addition"), (2, "Addition")], [(1, "output", 2, "num1"), (2, "output", 1, "num1")])),
            "workflow graph has a cycle")
        XCTAssertEqual(message(graph([], [])), "workflow has no blocks")
        XCTAssertEqual(
            message(graph([(1, "Constant")], [(1, "output", 7, "num1")])), "edge 0 refers to a block that is not in the workflow")
        XCTAssertEqual(message(graph([(1, "Constant"), (1, "Constant")], [])), "block id 1 is used twice")
        XCTAssertEqual(message(graph([(1, "Sqrt")], [])), "block 1: module 'Arithmetic' has no block type 'Sqrt'")
        XCTAssertNotNil(message("{"))
        XCTAssertNotNil(message(#"{"blocks": {}}"#))
    }

    func testBlocksComputeWithPythonErrors() {
        let addition = arithmetic("Addition")
        let input: JSON = [
            "values": [:],
            "sources": [
                ["from": "1", "output": "output", "input": "num1"],
                ["from": "2", "output": "output", "input": "num2"],
            ],
        ]
        XCTAssertEqual(
            addition.run(TaskContext(input: input, upstream: ["1": ["output": "40"], "2": ["output": "30"]])),
            .succeeded(["output": 70]))
        XCTAssertEqual(addition.run(TaskContext(input: input, upstream: ["1": ["output": "40"]])), .failed("KeyError: 'output'"))
        let constant = arithmetic("Constant")
        XCTAssertEqual(constant.run(TaskContext(input: ["values": [:]], upstream: [:])), .failed("KeyError: 'constant value'"))
        XCTAssertEqual(constant.run(TaskContext(input: ["values": ["constant value": "40"]], upstream: [:])), .succeeded(["output": "40"]))
    }
}

final class LifecycleTests: XCTestCase {
    func testJobLifecycles() {
        XCTAssertTrue(BlockJobs.lifecycle.canMove(from: "RUNNING", to: "COMPLETED"))
        XCTAssertFalse(BlockJobs.lifecycle.canMove(from: "COMPLETED", to: "RUNNING"))
        XCTAssertFalse(BlockJobs.lifecycle.canMove(from: "RUNNING", to: "running"))
        XCTAssertTrue(BlockJobs.lifecycle.isTerminal("FAILED"))
        XCTAssertFalse(ItentialSurface.lifecycle.isTerminal("error"), "an Itential error job can be retried")
        XCTAssertTrue(WorkflowManagerSurface.lifecycle.canMove(from: "closed", to: "open"))
        for rules in [BlockJobs.rules, ItentialSurface.rules, ScaleSurface.rules, WorkflowManagerSurface.rules] {
            for (status, next) in rules.lifecycle.transitions {
                for target in next { XCTAssertTrue(rules.lifecycle.isKnown(target), "\(rules.surface) \(status)→\(target)") }
            }
        }
    }

    func testSequentialFlow() {
        let flow = SequentialFlow(completedStatus: "COMPLETED", failedStatus: "FAILED")
        func task(_ id: Int64, _ status: TaskStatus) -> TaskSnapshot {
            TaskSnapshot(id: id, key: "k\(id)", position: Int(id), status: status, automatic: true)
        }
        XCTAssertEqual(flow.start([task(2, .pending), task(1, .pending)], job: [:]), [.makeReady(taskId: 1)])
        XCTAssertEqual(
            flow.after(task(1, .succeeded), error: nil, tasks: [task(1, .succeeded), task(2, .pending)], job: [:]), [.makeReady(taskId: 2)])
        XCTAssertEqual(
            flow.after(task(2, .succeeded), error: nil, tasks: [task(1, .succeeded), task(2, .succeeded)], job: [:]),
            [.finishJob(status: "COMPLETED", error: nil)])
        XCTAssertEqual(
            flow.after(task(1, .failed), error: "boom", tasks: [task(1, .failed), task(2, .pending)], job: [:]),
            [.finishJob(status: "FAILED", error: "boom")])
    }
}
