import Engine

extension SurfaceName {
    public static let scale: SurfaceName = "scale"
}

/// What the core needs of Scale jobs: their statuses; they move only on requests.
public enum ScaleSurface {
    public static let lifecycle = JobLifecycle([
        "PENDING": ["BLOCKED", "QUEUED", "CANCELED"],
        "BLOCKED": ["PENDING", "QUEUED", "CANCELED"],
        "QUEUED": ["RUNNING", "COMPLETED", "FAILED", "CANCELED"],
        // Back to QUEUED only when its claim lapsed (`ScaleJobs.expireLapsedClaims`): the requeue
        // route takes FAILED and CANCELED jobs alone.
        "RUNNING": ["COMPLETED", "FAILED", "CANCELED", "QUEUED"],
        "FAILED": ["QUEUED", "CANCELED"],
        "CANCELED": ["QUEUED"],
        "COMPLETED": [],
    ])

    public static let rules = SurfaceRules(
        surface: .scale, lifecycle: lifecycle, flow: RequestDrivenFlow(),
        publicIdSequence: "scale_job_number")
}
