import Foundation
import JSON
import XCTest

/// Uploaded Python modules: validation, the palette, running their blocks in python3 without
/// network, and the files they produce.
final class BlocksModuleTests: XCTestCase {
    /// Writes a module folder and zips it with python3's zipfile (as an upstream user would).
    func moduleArchive(_ module: String, files: [String: String]) throws -> [UInt8] {
        let root = NSTemporaryDirectory() + "module-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (path, text) in files {
            let full = "\(root)/\(module)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        let zip = root + ".zip"
        defer { try? FileManager.default.removeItem(atPath: zip) }
        let made = try Spawn.run("/usr/bin/python3", ["-c", """
            import os, sys, zipfile
            root, out = sys.argv[1], sys.argv[2]
            with zipfile.ZipFile(out, 'w') as z:
                for d, _, names in os.walk(root):
                    for n in names:
                        z.write(os.path.join(d, n), os.path.relpath(os.path.join(d, n), root))
            """, root, zip], environment: [:])
        XCTAssertEqual(made.status, 0, made.output)
        return Array(try Data(contentsOf: URL(fileURLWithPath: zip)))
    }

    func squaresModule(_ name: String) throws -> [UInt8] {
        try moduleArchive(name, files: [
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
                            socket.create_connection(('127.0.0.1', 80), timeout=2)
                        self.output.set_value(1 / 0)
                """,
        ])
    }

    func upload(_ user: BlocksUser, _ archive: [UInt8], filename: String) throws -> HTTPResponse {
        var form = Multipart()
        form.file("file", filename: filename, archive)
        return try user.client.request("POST", "/api/workflow/upload", headers: [("Content-Type", form.contentType),
                                                                                 ("Cookie", "token=\(user.token)")], body: form.body)
    }

    func testUploadPaletteRunAndFiles() throws {
        let user = try BlocksUser.register()
        let module = "Sq\(UUID().uuidString.prefix(6))"
        let archive = try squaresModule(module)
        let uploaded = try upload(user, archive, filename: "\(module).zip")
        XCTAssertEqual(uploaded.status, 200, uploaded.text)
        XCTAssertEqual(uploaded.json, ["new_blocks_length": 2])

        let again = try upload(user, archive, filename: "\(module).zip")
        XCTAssertEqual(again.status, 403)
        XCTAssertEqual(again.json, ["error": .string("Module name '\(module)' in \(module).zip already exsists, pls change the name")])
        let arithmetic = try upload(user, try moduleArchive("Arithmetic", files: ["__init__.py": "string_classobject_mapping = {}"]),
                                    filename: "a.zip")
        XCTAssertEqual(arithmetic.status, 403, "the native module's name is taken too")

        let palette = try XCTUnwrap(try user.post("/api/workflow/initialize", []).json?.arrayValue)
        let square = try XCTUnwrap(palette.first { $0["module"] == .string("\(module).zip:\(module)") && $0["name"] == "Square" })
        XCTAssertEqual(square, ["module": .string("\(module).zip:\(module)"), "name": "Square", "owner": "guest@guest.com",
                                "public": false, "description": "", "family": "Ops",
                                "fields": [["name": "x", "type": "NUMBER", "card": "1-1", "attrs": "input"],
                                           ["name": "result", "type": "NUMBER", "card": "1-1", "attrs": "output"]]])
        XCTAssertEqual(square["fields"]?.arrayValue?.first?.objectValue?.map(\.0), ["name", "type", "card", "attrs"])

        let graph: JSON = ["edges": [["id": 1, "block1": 1, "connector1": ["output", "output"], "block2": 2, "connector2": ["x", "input"]]],
                           "blocks": [Graphs.constant(1, "7"),
                                      ["id": 2, "type": "Square", "module": .string("\(module).zip:\(module)"), "values": [:]]]]
        let id = try user.scheduled(graph)
        let document = try user.finished(id)
        XCTAssertEqual(document["status"], "COMPLETED", document.serialized)
        XCTAssertEqual(document["executionStatus"]?.arrayValue?.last?["output"]?["value"], "{'result': 49}")

        let file = try user.client.get("/api/workflow/file/\(id)/square.txt", headers: [("Cookie", "token=\(user.token)")])
        XCTAssertEqual(file.status, 200)
        XCTAssertEqual(file.text, "49")
        let other = try BlocksUser.register()
        XCTAssertEqual(try other.client.get("/api/workflow/file/\(id)/square.txt", headers: [("Cookie", "token=\(other.token)")]).status, 400)
        XCTAssertEqual(try user.client.get("/api/workflow/file/\(id)/missing.txt", headers: [("Cookie", "token=\(user.token)")]).status, 404)
        XCTAssertEqual(try user.client.get("/api/workflow/file/\(id)/..%2Fsquare.txt", headers: [("Cookie", "token=\(user.token)")]).status, 400)
        XCTAssertEqual(try user.client.get("/api/workflow/file/\(id)/..", headers: [("Cookie", "token=\(user.token)")]).status, 400)
        XCTAssertEqual(try user.client.get("/api/workflow/file/\(id)/square.txt").status, 403)
    }

    func testUploadedBlocksHaveNoNetworkAndReportPythonErrors() throws {
        let user = try BlocksUser.register()
        let module = "Pr\(UUID().uuidString.prefix(6))"
        XCTAssertEqual(try upload(user, try squaresModule(module), filename: "p.zip").status, 200)
        func probe(_ action: String) throws -> JSON {
            let graph: JSON = ["edges": [], "blocks": [["id": 1, "type": "Probe", "module": .string("\(module).zip:\(module)"),
                                                        "values": ["action": .string(action)]]]]
            return try XCTUnwrap(try user.finished(try user.scheduled(graph))["executionStatus"]?.arrayValue?.first)
        }
        XCTAssertEqual(try probe("net")["stderr"], "OSError: [Errno 101] Network is unreachable")
        XCTAssertEqual(try probe("divide")["stderr"], "ZeroDivisionError: division by zero")
    }

    func testBadArchivesAreRefusedAndStoreNothing() throws {
        let user = try BlocksUser.register()
        let notZip = try upload(user, Array("hello".utf8), filename: "x.zip")
        XCTAssertEqual(notZip.status, 400)
        XCTAssertEqual(notZip.json, ["error": "File is not a zip file"])
        let module = "Nm\(UUID().uuidString.prefix(6))"
        let noMapping = try upload(user, try moduleArchive(module, files: ["__init__.py": "x = 1"]), filename: "n.zip")
        XCTAssertEqual(noMapping.status, 400)
        XCTAssertEqual(noMapping.json?["error"]?.stringValue, "module \(module) has no string_classobject_mapping in its __init__.py")
        let broken = try upload(user, try moduleArchive(module, files: ["__init__.py": "import nonexistent_thing"]), filename: "b.zip")
        XCTAssertEqual(broken.status, 400)
        XCTAssertEqual(broken.json?["error"]?.stringValue, "cannot import module \(module): ModuleNotFoundError: No module named 'nonexistent_thing'")
        let missing = try user.post("/api/workflow/upload", [("other", "x")])
        XCTAssertEqual(missing.status, 400)
        let palette = try XCTUnwrap(try user.post("/api/workflow/initialize", []).json?.arrayValue)
        XCTAssertFalse(palette.contains { $0["module"]?.stringValue?.contains(module) ?? false })
    }
}
