import Engine
import Foundation
import JSON

/// Runs a block of an uploaded module with python3 in the sandbox (see `PythonHelper`).
struct PythonBlockKind: TaskKind {
    static let kindName = "blocks:python"
    let runtime: ModuleRuntime
    var name: String { Self.kindName }

    func run(_ context: TaskContext) -> TaskOutcome {
        guard let module = context.input["module"]?.stringValue, let type = context.input["type"]?.stringValue else {
            return .failed("RuntimeError: the task names no module and block type")
        }
        let data: [(String, JSON)]
        switch BlockInputs.assemble(context) {
        case let .success(assembled): data = assembled
        case let .failure(error): return .failed(error.line)
        }
        guard let archive = try? context.module(module) else { return .failed("ModuleNotFoundError: No module named '\(module)'") }
        switch PythonProcess.run(.run(module: module, type: type, data: data), archive: archive, runtime) {
        case let .failure(error):
            return .failed(error.line)
        case let .success(answer):
            if let error = answer["error"]?.stringValue { return .failed(error) }
            let outputs = (answer["outputs"]?.arrayValue ?? []).compactMap { pair -> (String, JSON)? in
                guard let items = pair.arrayValue, items.count == 2, let name = items[0].stringValue else { return nil }
                return (name, items[1])
            }
            let files = (answer["files"]?.arrayValue ?? []).compactMap { file -> NamedFile? in
                guard let name = file["name"]?.stringValue, let encoded = file["content"]?.stringValue,
                    let content = Data(base64Encoded: encoded)
                else { return nil }
                return NamedFile(name: name, content: Array(content))
            }
            return .succeeded(.object(outputs), files: files)
        }
    }
}
