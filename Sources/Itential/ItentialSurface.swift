import Engine

extension SurfaceName {
    public static let itential: SurfaceName = "itential"
}

/// What the core needs of Itential jobs: their statuses and how they move on.
public enum ItentialSurface {
    public static let lifecycle = JobLifecycle(
        [
            "incomplete": ["running", "canceled"],
            "running": ["paused", "error", "complete", "canceled"],
            // Tasks already running when a job is paused still finish and may end it.
            "paused": ["running", "canceled", "complete", "error"],
            "error": ["running", "canceled"],
            "complete": [], "canceled": [],
        ], stalled: ["error"])

    public static let rules = SurfaceRules(surface: .itential, lifecycle: lifecycle, flow: ItentialFlow())
}
