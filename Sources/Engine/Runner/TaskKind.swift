import JSON

/// What a task kind gets to work with: its own definition and what finished tasks of the same
/// job produced, by task key.
public struct TaskContext: Sendable {
    public let input: JSON
    public let upstream: [String: JSON]

    public init(input: JSON, upstream: [String: JSON]) {
        self.input = input
        self.upstream = upstream
    }
}

public enum TaskOutcome: Sendable, Equatable {
    case succeeded(JSON)
    /// A readable error; it is stored on the task and stops or diverts the job per its flow.
    case failed(String)
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
