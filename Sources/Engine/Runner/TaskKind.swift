import JSON

/// What a task kind gets to work with: its own definition, what finished tasks of the same
/// job produced (by task key), the job's document and variables, the modules and workflows of
/// its surface, and, when it runs again after waiting, why it waited.
public struct TaskContext {
    public let input: JSON
    public let upstream: [String: JSON]
    /// `jobs.document.variables`: what the job started with plus what its tasks set.
    public let jobVariables: JSON
    /// The archive of an uploaded module of the job's surface, by name.
    public let module: (String) throws -> [UInt8]?
    public var task = RunningTask()

    /// Who is running: the task within its job, and what it waited for before this run.
    public struct RunningTask {
        public var key = ""
        public var iteration: String?
        /// How many iterations it had before this one (a loop's count so far).
        public var pastIterations = 0
        /// The job's stored document, less its definition snapshot (`tasks`, `transitions`).
        public var job: JSON = [:]
        /// The wait it asked for (`TaskOutcome.sleeping`) is over.
        public var woken = false
        /// The child jobs it spawned, in order, once they have all ended.
        public var children: [ChildJob] = []
        /// A stored definition of the job's surface by name: its row id and document.
        public var workflow: (String) throws -> (rowId: Int64, document: JSON)? = { _ in nil }
    }

    public init(
        input: JSON, upstream: [String: JSON], jobVariables: JSON = [:],
        module: @escaping (String) throws -> [UInt8]? = { _ in nil }
    ) {
        self.input = input
        self.upstream = upstream
        self.jobVariables = jobVariables
        self.module = module
    }
}

/// A child job as the task that spawned it sees it when it goes on.
public struct ChildJob: Sendable {
    public let id: String
    public let status: String
    public let variables: JSON
}

public enum TaskOutcome: Sendable, Equatable {
    /// The task's output, files it produced for its job, the state it finished in (for surfaces
    /// that branch on it; nil: `success`), and job variables it sets.
    case succeeded(JSON, files: [NamedFile] = [], finishState: String? = nil, jobVariables: JSON? = nil)
    /// A readable error; it is stored on the task and stops or diverts the job per its flow.
    /// Job variables it sets (a surface may keep the error in one) are written with it.
    case failed(String, jobVariables: JSON? = nil)
    /// Starts these jobs as the task's children; the task waits and runs again once they have
    /// all ended (and may spawn more then, to run children one after another).
    case spawned([NewJob])
    /// Runs the task again after this many seconds.
    case sleeping(seconds: Double)
}

/// Code that runs one automatic task. Surfaces provide kinds (Blocks' Arithmetic blocks,
/// Itential's automatic tasks, Workflow Manager GP steps); the runner only looks them up.
public protocol TaskKind: Sendable {
    /// Stored in `tasks.kind`, e.g. `blocks:Arithmetic.Addition`.
    var name: String { get }
    func run(_ context: TaskContext) -> TaskOutcome
}

public struct TaskKindRegistry: Sendable {
    private let kinds: [String: any TaskKind]

    public init(_ kinds: [any TaskKind]) {
        self.kinds = Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// A runner only leases tasks whose kind it can run.
    public var names: [String] { kinds.keys.sorted() }
    public func kind(named name: String) -> (any TaskKind)? { kinds[name] }
}
