/// Which job status may follow which, for one surface (each domain module declares its own).
/// Pure: the engine consults it under the job's row lock before every status write (see
/// `StateMachine`).
public struct JobLifecycle: Sendable {
    /// Every status, and the statuses it may move to.
    public let transitions: [String: Set<String>]
    /// Statuses that are not terminal but in which a job has stopped until someone acts on it
    /// (Itential's stalled `error`). A task waiting for such a job as its child goes on.
    public let stalled: Set<String>

    public init(_ transitions: [String: Set<String>], stalled: Set<String> = []) {
        self.transitions = transitions
        self.stalled = stalled
    }

    public func isKnown(_ status: String) -> Bool { transitions[status] != nil }

    public func canMove(from: String, to: String) -> Bool { transitions[from]?.contains(to) ?? false }

    /// Statuses with no way out, where a job gets its `finished_at`.
    public func isTerminal(_ status: String) -> Bool { transitions[status]?.isEmpty ?? false }
}
