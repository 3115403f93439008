import Blocks
import Engine
import Glibc
import HTTP
import JSON

/// `/api/workflow/*`: the palette, scheduling, listing and the job-details document.
struct BlocksWorkflow: Sendable {
    func palette(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        return .json(.array(try BlockCatalog.current(session).entries.map(\.paletteEntry)))
    }

    /// With `workflow`: validate, create and start a job → `{"job_id": N}`. With only `jobId`:
    /// the job-details document (the seed's page documents this form).
    func schedule(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let form = try BlocksAPI.form(request)
        guard let workflow = form["workflow"] else { return try detailsResponse(form, user, session) }
        let catalog = try BlockCatalog.current(session)
        let graph: BlockGraph
        do { graph = try BlockGraph(parsing: workflow, catalog: catalog) } catch { throw BlocksAPI.refuse(error) }
        let job = try session.jobs.create(
            NewJob(
                surface: .blocks, status: "RUNNING", owner: user, workflow: graph.document,
                tasks: tasks(of: graph, catalog)), actor: .user(user))
        return .json(["job_id": .number(job.publicId)])
    }

    func details(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        return try detailsResponse(try BlocksAPI.form(request), user, session)
    }

    /// The caller's jobs, newest first.
    func list(_ request: Request, _ session: Session, _ user: User) throws -> Response {
        let jobs = try session.jobs.list(surface: .blocks, ownerId: user.id)
        return .json(
            .array(
                jobs.map { job in
                    [
                        "startTime": .string(Self.cTime(job.createdAt)), "id": .number(job.ref.publicId),
                        "endTime": .string(Self.endTime(job)), "status": .string(job.ref.status),
                    ]
                }))
    }

    // MARK: Building jobs and documents

    /// One automatic task per block, positioned in execution order, carrying its module, type,
    /// parameter values and where its inputs come from.
    func tasks(of graph: BlockGraph, _ catalog: BlockCatalog) -> [NewTask] {
        let blocks = Dictionary(uniqueKeysWithValues: graph.blocks.map { ($0.key, $0) })
        return graph.order.enumerated().compactMap { position, key in
            guard let block = blocks[key], let entry = catalog.entry(module: block.module, type: block.type) else { return nil }
            let sources = (graph.sources[key] ?? []).map { source -> JSON in
                ["from": .string(source.from), "output": .string(source.output), "input": .string(source.input)]
            }
            return NewTask(
                key: key, position: position, kind: entry.taskKind, automatic: true,
                input: [
                    "module": .string(block.module), "type": .string(block.type),
                    "values": block.raw["values"] ?? [:], "sources": .array(sources),
                ])
        }
    }

    func detailsResponse(_ form: FormData, _ user: User, _ session: Session) throws -> Response {
        guard let text = form["jobId"] else { throw HTTPError.badRequest("jobId is required") }
        guard let number = Int(text.trimmingCharacters(in: " ")), number > 0 else {
            throw HTTPError.badRequest("jobId must be a positive integer")
        }
        // Someone else's job answers exactly like a missing one.
        guard let job = try session.jobs.find(surface: .blocks, publicId: String(number)), job.ownerId == user.id else {
            throw HTTPError.badRequest("Job \(number) not found")
        }
        return .json(Self.document(job))
    }

    /// The stored graph with each block's result merged in, the same block objects under
    /// `workflow.blocks` and `executionStatus` (upstream aliases one list), in the seed's key order.
    static func document(_ job: JobRecord) -> JSON {
        let graph = job.workflow ?? ["blocks": []]
        let tasks = Dictionary(job.tasks.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let blocks = (graph["blocks"]?.arrayValue ?? []).map { block -> JSON in
            guard let key = block["id"].flatMap(BlockGraph.key), let task = tasks[key] else { return block }
            return withResult(block, task)
        }
        return [
            "workflow": graph.setting("blocks", to: .array(blocks)), "executionStatus": .array(blocks),
            "startTime": .string(cTime(job.createdAt)), "id": .number(job.ref.publicId),
            "endTime": .string(endTime(job)), "status": .string(job.ref.status),
        ]
    }

    static func withResult(_ block: JSON, _ task: TaskRecord) -> JSON {
        switch task.status {
        case .succeeded:
            let outputs = (task.output?.objectValue ?? []).map { ($0.0, PythonValue($0.1)) }
            return block.setting("output", to: ["type": "STRING", "value": .string(PythonValue.dictRepr(outputs))])
                .setting("completed", to: true).setting("error", to: false).setting("stderr", to: "")
        case .failed:
            return block.setting("completed", to: true).setting("error", to: true).setting("stderr", to: .string(task.error ?? ""))
        default:
            return block
        }
    }

    /// Only a COMPLETED job has an end time (upstream leaves it empty on failure).
    static func endTime(_ job: JobRecord) -> String {
        guard job.ref.status == "COMPLETED", let finished = job.finishedAt else { return "" }
        return cTime(finished)
    }

    /// `strftime("%c")` of a UTC time in the C locale: `Sun Jul  5 10:27:36 2020`.
    static func cTime(_ epochSeconds: Double) -> String {
        var seconds = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let length = strftime(&buffer, buffer.count, "%a %b %e %H:%M:%S %Y", &parts)
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

private extension String {
    func trimmingCharacters(in character: Character) -> String {
        var view = Substring(self)
        while view.first == character { view.removeFirst() }
        while view.last == character { view.removeLast() }
        return String(view)
    }
}
