/// Which job status may follow which, per surface. Pure: the engine consults it under the job's
/// row lock before every status write (see `StateMachine`).
public enum JobLifecycle {
    /// The statuses a surface's jobs may take, and the moves between them.
    public static func transitions(for surface: SurfaceName) -> [String: Set<String>] {
        switch surface {
        case .blocks:
            // No queued state upstream: a job is RUNNING from creation.
            return ["RUNNING": ["COMPLETED", "FAILED"], "COMPLETED": [], "FAILED": []]
        case .itential:
            return [
                "incomplete": ["running", "canceled"],
                "running": ["paused", "error", "complete", "canceled"],
                // Tasks already running when a job is paused still finish and may end it.
                "paused": ["running", "canceled", "complete", "error"],
                "error": ["running", "canceled"],
                "complete": [], "canceled": [],
            ]
        case .workflowManager:
            return ["open": ["closed"], "closed": ["open"]]
        case .scale:
            return [
                "PENDING": ["BLOCKED", "QUEUED", "CANCELED"],
                "BLOCKED": ["PENDING", "QUEUED", "CANCELED"],
                "QUEUED": ["RUNNING", "COMPLETED", "FAILED", "CANCELED"],
                "RUNNING": ["COMPLETED", "FAILED", "CANCELED"],
                "FAILED": ["QUEUED", "CANCELED"],
                "CANCELED": ["QUEUED"],
                "COMPLETED": [],
            ]
        }
    }

    public static func isKnown(_ status: String, for surface: SurfaceName) -> Bool {
        transitions(for: surface)[status] != nil
    }

    public static func canMove(_ surface: SurfaceName, from: String, to: String) -> Bool {
        transitions(for: surface)[from]?.contains(to) ?? false
    }

    /// Statuses with no way out, where a job gets its `finished_at`.
    public static func isTerminal(_ status: String, for surface: SurfaceName) -> Bool {
        transitions(for: surface)[status]?.isEmpty ?? false
    }

    /// Statuses that are not terminal but in which a job has stopped until someone acts on it
    /// (Itential's stalled `error`). A task waiting for such a job as its child goes on.
    public static func stalled(for surface: SurfaceName) -> Set<String> {
        surface == .itential ? ["error"] : []
    }

    /// SQL: the jobs row `alias` has ended or stalled.
    static func settledSQL(_ alias: String) -> String {
        let pairs = SurfaceName.allCases.flatMap { surface in
            stalled(for: surface).sorted().map { "('\(surface.rawValue)', '\($0)')" }
        }
        guard !pairs.isEmpty else { return "\(alias).finished_at IS NOT NULL" }
        return "(\(alias).finished_at IS NOT NULL OR (\(alias).surface, \(alias).status) IN (\(pairs.joined(separator: ", "))))"
    }
}
