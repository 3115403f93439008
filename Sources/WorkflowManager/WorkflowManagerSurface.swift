import Engine

extension SurfaceName {
    public static let workflowManager: SurfaceName = "workflow_manager"
}

/// What the core needs of Workflow Manager jobs: open or closed, moved only by job actions.
public enum WorkflowManagerSurface {
    public static let lifecycle = JobLifecycle(["open": ["closed"], "closed": ["open"]])

    public static let rules = SurfaceRules(surface: .workflowManager, lifecycle: lifecycle, flow: RequestDrivenFlow())
    /// Job actions change only Workflow Manager jobs.
    static let registry = SurfaceRegistry([rules])
}
