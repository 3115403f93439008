import Foundation
import JSON
import XCTest

/// Uploaded Python modules: validation, the palette, running their blocks in python3 without
/// network, and the files they produce.
final class BlocksModuleTests: XCTestCase {
    func squaresModule(_ name: String) throws -> [UInt8] {
        try ModuleArchives.module(
            name,
            files: [
                "__init__.py": """
                from blocks.\(name).Ops.Square import Square
                from blocks.\(name).Ops.Probe import Probe
                string_classobject_mapping = {Square.name: Square(), Probe.name: Probe()}
                """,
                "Ops/__init__.py": "",
                "Ops/Square.py": """
                from blocks.Block import Block
                from blocks.BlockInput import BlockInput
                from blocks.BlockOutput import BlockOutput
                from blocks.ParameterType import ParameterType

                class Square(Block):
                    family = 'Ops'
                    name = 'Square'

                    def __init__(self):
                        self.x = BlockInput(name='x', min_cardinality=1, max_cardinality=1, attribute_type=ParameterType.NUMBER)
                        self.result = BlockOutput(name='result', attribute_type=ParameterType.NUMBER)

                    def input_params(self, data):
                        self.x.set_value(int(data['x']))

                    def execute(self):
                        with open('square.txt', 'w') as f:
                            f.write(str(self.x.value ** 2))
                        self.result.set_value(self.x.value ** 2)
                """,
                "Ops/Probe.py": """
                import socket, time
                from blocks.Block import Block
                from blocks.BlockParameter import BlockParameter
                from blocks.BlockOutput import BlockOutput

                class Probe(Block):
                    family = 'Ops'
                    name = 'Probe'

                    def __init__(self):
                        self.action = BlockParameter(name='action', attribute_type='STRING', defaultvalue='net', description='what to try')
                        self.output = BlockOutput(name='output', attribute_type='STRING')

                    def input_params(self, data):
                        self.action.set_value(data['action'])

                    def execute(self):
                        if self.action.value == 'net':
                            socket.create_connection(('192.0.2.1', 80), timeout=2)
                        self.output.set_value(1 / 0)
                """,
            ])
    }

    func testUploadPaletteRunAndFiles() throws {
        let user = try BlocksUser.register()
        let module = "Sq\(UUID().uuidString.prefix(6))"
        let archive = try squaresModule(module)
        let uploaded = try user.upload(archive, filename: "\(module).zip")
        XCTAssertEqual(uploaded.status, 200, uploaded.text)
        XCTAssertEqual(uploaded.json, ["new_blocks_length": 2])

        let again = try user.upload(archive, filename: "\(module).zip")
        XCTAssertEqual(again.status, 403)
        XCTAssertEqual(again.json, ["error": .string("Module name '\(module)' in \(module).zip already exsists, pls change the name")])
        let arithmetic = try user.upload(
            try ModuleArchives.module("Arithmetic", files: ["__init__.py": "string_classobject_mapping = {}"]),
            filename: "a.zip")
        XCTAssertEqual(arithmetic.status, 403, "the native module's name is taken too")

        let palette = try XCTUnwrap(try user.post("/api/workflow/initialize", []).json?.arrayValue)
        let square = try XCTUnwrap(palette.first { $0["module"] == .string("\(module).zip:\(module)") && $0["name"] == "Square" })
        XCTAssertEqual(
            square,
            [
                "module": .string("\(module).zip:\(module)"), "name": "Square", "owner": "guest@guest.com",
                "public": false, "description": "", "family": "Ops",
                "fields": [
                    ["name": "x", "type": "NUMBER", "card": "1-1", "attrs": "input"],
                    ["name": "result", "type": "NUMBER", "card": "1-1", "attrs": "output"],
                ],
            ])
        XCTAssertEqual(square["fields"]?.arrayValue?.first?.objectValue?.map(\.0), ["name", "type", "card", "attrs"])

        let graph: JSON = [
            "edges": [["id": 1, "block1": 1, "connector1": ["output", "output"], "block2": 2, "connector2": ["x", "input"]]],
            "blocks": [
                Graphs.constant(1, "7"),
                ["id": 2, "type": "Square", "module": .string("\(module).zip:\(module)"), "values": [:]],
            ],
        ]
        let id = try user.scheduled(graph)
        let document = try user.finished(id)
        XCTAssertEqual(document["status"], "COMPLETED", document.serialized)
        XCTAssertEqual(document["executionStatus"]?.arrayValue?.last?["output"]?["value"], "{'result': 49}")

        let file = try user.client.get("/api/workflow/file/\(id)/square.txt", headers: [("Cookie", "token=\(user.token)")])
        XCTAssertEqual(file.status, 200)
        XCTAssertEqual(file.text, "49")
        let other = try BlocksUser.register()
        XCTAssertEqual(
            try other.client.get("/api/workflow/file/\(id)/square.txt", headers: [("Cookie", "token=\(other.token)")]).status, 400)
        XCTAssertEqual(
            try user.client.get("/api/workflow/file/\(id)/missing.txt", headers: [("Cookie", "token=\(user.token)")]).status, 404)
        XCTAssertEqual(
            try user.client.get("/api/workflow/file/\(id)/..%2Fsquare.txt", headers: [("Cookie", "token=\(user.token)")]).status, 400)
        XCTAssertEqual(try user.client.get("/api/workflow/file/\(id)/..", headers: [("Cookie", "token=\(user.token)")]).status, 400)
        XCTAssertEqual(try user.client.get("/api/workflow/file/\(id)/square.txt").status, 403)
    }

    func testUploadedBlocksHaveNoNetworkAndReportPythonErrors() throws {
        let user = try BlocksUser.register()
        let module = "Pr\(UUID().uuidString.prefix(6))"
        XCTAssertEqual(try user.upload(try squaresModule(module), filename: "p.zip").status, 200)
        func probe(_ action: String) throws -> JSON {
            let graph: JSON = [
                "edges": [],
                "blocks": [
                    [
                        "id": 1, "type": "Probe", "module": .string("\(module).zip:\(module)"),
                        "values": ["action": .string(action)],
                    ]
                ],
            ]
            return try XCTUnwrap(try user.finished(try user.scheduled(graph))["executionStatus"]?.arrayValue?.first)
        }
        XCTAssertEqual(try probe("net")["stderr"], "OSError: [Errno 101] Network is unreachable")
        XCTAssertEqual(try probe("divide")["stderr"], "ZeroDivisionError: division by zero")
    }

    func testBadArchivesAreRefusedAndStoreNothing() throws {
        let user = try BlocksUser.register()
        let notZip = try user.upload(Array("hello".utf8), filename: "x.zip")
        XCTAssertEqual(notZip.status, 400)
        XCTAssertEqual(notZip.json, ["error": "File is not a zip file"])
        let module = "Nm\(UUID().uuidString.prefix(6))"
        let noMapping = try user.upload(try ModuleArchives.module(module, files: ["__init__.py": "x = 1"]), filename: "n.zip")
        XCTAssertEqual(noMapping.status, 400)
        XCTAssertEqual(noMapping.json?["error"]?.stringValue, "module \(module) has no string_classobject_mapping in its __init__.py")
        let broken = try user.upload(
            try ModuleArchives.module(module, files: ["__init__.py": "import nonexistent_thing"]), filename: "b.zip")
        XCTAssertEqual(broken.status, 400)
        XCTAssertEqual(
            broken.json?["error"]?.stringValue, "cannot import module \(module): ModuleNotFoundError: No module named 'nonexistent_thing'")
        let missing = try user.post("/api/workflow/upload", [("other", "x")])
        XCTAssertEqual(missing.status, 400)
        let palette = try XCTUnwrap(try user.post("/api/workflow/initialize", []).json?.arrayValue)
        XCTAssertFalse(palette.contains { $0["module"]?.stringValue?.contains(module) ?? false })
    }
}
