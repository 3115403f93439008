import Foundation
import JSON
import XCTest

/// Zip archives of Blocks modules, written by python3's zipfile as an upstream user's would be,
/// including the hostile ones (links, special files, bombs) that no file tree could produce.
enum ModuleArchives {
    /// Runs `body` with `z`, a `zipfile.ZipFile` open for writing (`zipfile` and `stat` imported).
    static func python(_ body: String) throws -> [UInt8] {
        let zip = NSTemporaryDirectory() + "module-\(UUID().uuidString).zip"
        defer { try? FileManager.default.removeItem(atPath: zip) }
        let script =
            "import stat, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:\n"
            + body.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n")
        let made = try Spawn.run("/usr/bin/python3", ["-c", script, zip], environment: [:])
        XCTAssertEqual(made.status, 0, made.output)
        return Array(try Data(contentsOf: URL(fileURLWithPath: zip)))
    }

    /// A module folder with these files (path inside the module → source).
    static func module(_ module: String, files: [String: String]) throws -> [UInt8] {
        try python(
            files.sorted { $0.key < $1.key }.map { path, text in
                "z.writestr(\(pythonString("\(module)/\(path)")), \(pythonString(text)))"
            }.joined(separator: "\n"))
    }

    /// A module with one block, `B`, whose `execute()` runs `body` (indented by the caller's
    /// lines); it may call `self.output.set_value(…)`. `os`, `sys`, `time` and `socket` are imported.
    static func block(_ module: String, execute body: String) throws -> [UInt8] {
        let indented = body.split(separator: "\n", omittingEmptySubsequences: false).map { "        " + $0 }.joined(separator: "\n")
        return try self.module(
            module,
            files: [
                "__init__.py": "from blocks.\(module).B import B\nstring_classobject_mapping = {B.name: B()}\n",
                "B.py": """
                import os, socket, sys, time
                from blocks.Block import Block
                from blocks.BlockOutput import BlockOutput

                class B(Block):
                    family = 'Probe'
                    name = 'B'

                    def __init__(self):
                        self.output = BlockOutput(name='output', attribute_type='STRING')

                    def input_params(self, data):
                        pass

                    def execute(self):
                \(indented)

                """,
            ])
    }

    /// A Python string literal (JSON's escapes are Python's).
    static func pythonString(_ text: String) -> String {
        String(
            decoding: try! JSONSerialization.data(withJSONObject: text, options: [.fragmentsAllowed, .withoutEscapingSlashes]),
            as: UTF8.self)
    }
}

extension BlocksUser {
    func upload(_ archive: [UInt8], filename: String = "module.zip") throws -> HTTPResponse {
        var form = Multipart()
        form.file("file", filename: filename, archive)
        return try client.request(
            "POST", "/api/workflow/upload", headers: [("Content-Type", form.contentType), ("Cookie", "token=\(token)")],
            body: form.body)
    }

    /// Uploads a one-block module (see `ModuleArchives.block`), runs its block as a job and
    /// returns the block's result (`stderr`, `output`) once the job ended.
    func runBlock(_ body: String, timeout: TimeInterval = 30) throws -> JSON {
        let module = "P\(UUID().uuidString.prefix(8))"
        let uploaded = try upload(try ModuleArchives.block(module, execute: body))
        guard uploaded.status == 200 else { throw ClientError("upload: \(uploaded.status) \(uploaded.text)") }
        let graph: JSON = ["edges": [], "blocks": [["id": 1, "type": "B", "module": .string("\(module).zip:\(module)"), "values": [:]]]]
        let document = try finished(try scheduled(graph), timeout: timeout)
        guard let block = document["executionStatus"]?.arrayValue?.first else { throw ClientError("no block in \(document.serialized)") }
        return block
    }
}
