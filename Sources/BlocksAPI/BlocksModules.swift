import Blocks
import Engine
import Foundation
import HTTP
import JSON

/// `POST /api/workflow/upload` (module archives) and `GET /api/workflow/file/…` (job files).
struct BlocksModules: Sendable {
    let runtime: ModuleRuntime
    let uploads: UploadGate

    /// Validates a zip of module folders and imports them in the sandbox, refuses taken names
    /// (403), stores it. Nothing is stored unless all of that passed.
    func upload(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let form = try BlocksAPI.form(request)
        guard let file = form.file("file") else { throw HTTPError.badRequest("Missing form field 'file'") }
        // An import holds this FastCGI worker for up to the upload limit: only a few at once.
        guard uploads.enter(user.id) else {
            throw HTTPError(
                429, "busy", body: ["error": "Too many uploads are being checked; try again in a moment"],
                headers: [("Retry-After", "1")])
        }
        defer { uploads.leave(user.id) }
        let answer: JSON
        switch PythonProcess.run(.inspect, archive: file.content, runtime) {
        case let .success(json): answer = json
        case let .failure(error): throw HTTPError.badRequest(error.line)
        }
        if let error = answer["error"]?.stringValue { throw HTTPError.badRequest(error) }
        let modules = answer["modules"]?.arrayValue ?? []
        let catalog = try BlockCatalog.current(session)
        for name in modules.compactMap({ $0["name"]?.stringValue }) where catalog.hasModule(name) {
            throw HTTPError(
                403, "taken",
                body: [
                    "error": .string("Module name '\(name)' in \(file.filename) already exsists, pls change the name")
                ])
        }
        let stored = modules.compactMap { module -> (file: NamedFile, metadata: JSON)? in
            guard let name = module["name"]?.stringValue else { return nil }
            return (NamedFile(name: name, content: file.content), ["blocks": module["blocks"] ?? [], "archive": .string(file.filename)])
        }
        do {
            try session.files.storeModules(stored, surface: .blocks, by: user)
        } catch let error as EngineError where error.kind == .conflict {
            throw HTTPError(403, "taken", body: ["error": .string("A module in \(file.filename) already exsists, pls change the name")])
        }
        let count = modules.reduce(0) { $0 + ($1["blocks"]?.arrayValue?.count ?? 0) }
        return .json(["new_blocks_length": .number(count)])
    }

    /// A file a block of the caller's job produced. Names with a path in them are refused.
    func file(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let name = request.parameter("filename")
        guard !name.contains("/"), !name.contains(".."), !name.hasPrefix(".") else {
            throw HTTPError.badRequest("Invalid file name")
        }
        guard let number = Int(request.parameter("jobId")), number > 0 else {
            throw HTTPError.badRequest("jobId must be a positive integer")
        }
        guard let job = try session.jobs.find(surface: .blocks, publicId: String(number)), job.ownerId == user.id else {
            throw HTTPError.badRequest("Job \(number) not found")
        }
        guard let content = try session.files.jobFile(surface: .blocks, jobPublicId: job.ref.publicId, name: name) else {
            throw HTTPError.notFound("File \(name) not found")
        }
        let type = name.lowercased().hasSuffix(".png") ? "image/png" : "application/octet-stream"
        return Response(status: 200, headers: [("Content-Type", type)], body: content)
    }
}

/// How many uploads this process checks at once, in all and per user.
final class UploadGate: @unchecked Sendable {
    let total: Int
    let perUser: Int
    private let lock = NSLock()
    private var running: [Int64: Int] = [:]

    init(total: Int, perUser: Int) {
        self.total = total
        self.perUser = perUser
    }

    func enter(_ user: Int64) -> Bool {
        lock.withLock {
            guard running.values.reduce(0, +) < total, running[user, default: 0] < perUser else { return false }
            running[user, default: 0] += 1
            return true
        }
    }

    func leave(_ user: Int64) {
        lock.withLock {
            running[user, default: 1] -= 1
            if running[user] == 0 { running[user] = nil }
        }
    }
}
