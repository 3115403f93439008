import Engine
import Foundation
import JSON
import Sandbox

/// Where and under which limits uploaded module code runs.
public struct ModuleRuntime: Sendable {
    public var sandbox: Sandbox
    /// For a block's run.
    public var runLimits: SandboxLimits
    /// For the import at upload: the same, but a shorter deadline, since a FastCGI worker waits.
    public var inspectSeconds: Double
    /// Uploads one instance checks at once (each holds a FastCGI worker); one per user.
    public var concurrentUploads: Int
    public var archive: ArchiveLimits

    public struct ArchiveLimits: Sendable {
        public var entries: Int
        public var fileBytes: Int
        public var totalBytes: Int

        public init(entries: Int, fileBytes: Int, totalBytes: Int) {
            self.entries = entries
            self.fileBytes = fileBytes
            self.totalBytes = totalBytes
        }
    }

    public init(
        sandbox: Sandbox, runLimits: SandboxLimits, inspectSeconds: Double, concurrentUploads: Int = 2,
        archive: ArchiveLimits
    ) {
        self.sandbox = sandbox
        self.runLimits = runLimits
        self.inspectSeconds = inspectSeconds
        self.concurrentUploads = concurrentUploads
        self.archive = archive
    }

    var inspectLimits: SandboxLimits {
        var limits = runLimits
        limits.wallSeconds = min(limits.wallSeconds, inspectSeconds)
        limits.cpuSeconds = min(limits.cpuSeconds, Int(inspectSeconds.rounded(.up)))
        return limits
    }
}

/// Runs the Python helper (`PythonHelper`) in the sandbox: one JSON request on stdin, one JSON
/// answer on stdout. Every way a run can end without an answer becomes a Python-style error.
package enum PythonProcess {
    static let python = "/usr/bin/python3"

    package enum Command {
        case inspect
        case run(module: String, type: String, data: [(String, JSON)])
    }

    package static func run(_ command: Command, archive: [UInt8], _ runtime: ModuleRuntime) -> Result<JSON, PythonError> {
        let common: [(String, JSON)] = [
            ("archive", .string(Data(archive).base64EncodedString())),
            (
                "limits",
                [
                    "entries": .number(runtime.archive.entries), "file_bytes": .number(runtime.archive.fileBytes),
                    "total_bytes": .number(runtime.archive.totalBytes), "output_bytes": .number(runtime.runLimits.outputBytes),
                ]
            ),
        ]
        let limits: SandboxLimits
        let request: JSON
        switch command {
        case .inspect:
            limits = runtime.inspectLimits
            request = .object([("command", "inspect")] + common)
        case let .run(module, type, data):
            limits = runtime.runLimits
            request = .object([("command", "run"), ("module", .string(module)), ("type", .string(type)), ("data", .object(data))] + common)
        }
        let outcome = runtime.sandbox.run(
            [python, "-I", "-B", "-c", PythonHelper.script], input: request.serializedBytes,
            limits: limits)
        switch outcome {
        case let .couldNotStart(reason):
            return .failure(PythonError(type: "RuntimeError", message: "no sandbox for module code: \(reason)"))
        case .timedOut:
            let what = if case .inspect = command { "importing the archive's modules took" } else { "the block ran" }
            return .failure(PythonError(type: "TimeoutError", message: "\(what) longer than \(limits.wallSeconds.formatted) s"))
        case .outputExceeded:
            return .failure(PythonError(type: "OSError", message: "the block's output exceeded \(mebibytes(limits.outputBytes))"))
        case let .exited(status, stdout, stderr):
            guard let answer = try? JSON.parse(stdout), case .object = answer else {
                let detail = String(decoding: stderr.suffix(400), as: UTF8.self)
                return .failure(
                    PythonError(
                        type: "RuntimeError",
                        message: "the block's Python process ended without an answer (\(ended(status))): \(detail)"))
            }
            return .success(answer)
        }
    }

    /// A wait status as words: "exit status 1", "signal 24".
    static func ended(_ status: Int32) -> String {
        (status & 0x7f) == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(status & 0x7f)"
    }

    static func mebibytes(_ bytes: Int) -> String { "\((Double(bytes) / 1_048_576).formatted) MiB" }
}

private extension Double {
    /// 30 → "30", 1.5 → "1.5".
    var formatted: String { self == rounded() ? String(Int(self)) : String(self) }
}
