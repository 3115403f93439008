/// A task's status and the moves allowed between them, shared by every surface (each surface
/// maps its own words onto these: an Itential `incomplete` task on a dead path is `skipped`).
public enum TaskStatus: String, Sendable, CaseIterable {
    /// Not reachable yet.
    case pending
    /// Runnable: the runner may take an automatic task; a person may claim a manual one.
    case ready
    /// Being run (automatic: under a runner's lease) or worked on by a person.
    case running
    /// Started, but waiting for information from a person.
    case waiting
    case paused
    case succeeded
    case failed
    case canceled
    /// Never to run (a dead path).
    case skipped

    static let moves: [TaskStatus: Set<TaskStatus>] = [
        // pending → succeeded: a marker task (a workflow's start and end) completes without running.
        .pending: [.ready, .skipped, .canceled, .succeeded],
        .ready: [.running, .succeeded, .skipped, .canceled, .pending],
        // running → running: an expired lease taken over by another runner.
        .running: [.running, .succeeded, .failed, .waiting, .paused, .canceled, .ready],
        .waiting: [.running, .succeeded, .failed, .canceled],
        // A paused, canceled or failed step may be run again, finished, or replaced as current.
        .paused: [.running, .ready, .canceled, .succeeded, .pending],
        .succeeded: [.ready, .pending],
        .failed: [.ready, .pending, .running, .succeeded],
        .canceled: [.ready, .pending, .running, .succeeded],
        .skipped: [.ready, .pending],
    ]

    public func canMove(to next: TaskStatus) -> Bool {
        TaskStatus.moves[self]?.contains(next) ?? false
    }

    public var isFinished: Bool { [.succeeded, .failed, .canceled, .skipped].contains(self) }
}
