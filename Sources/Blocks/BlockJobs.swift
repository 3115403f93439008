import Engine

extension SurfaceName {
    public static let blocks: SurfaceName = "blocks"
}

/// What the engine needs to run Blocks jobs.
public enum BlockJobs {
    /// One task kind per native block type.
    public static let taskKinds: [any TaskKind] = Arithmetic.blocks.map { BlockTaskKind(definition: $0) }
    /// Blocks of uploaded modules: they run in the sandbox, on a runner pool of their own, so
    /// that they cannot hold up built-in tasks of any surface.
    public static func sandboxedTaskKinds(_ modules: ModuleRuntime) -> [any TaskKind] { [PythonBlockKind(runtime: modules)] }
    /// No queued state upstream: a job is RUNNING from creation.
    public static let lifecycle = JobLifecycle(["RUNNING": ["COMPLETED", "FAILED"], "COMPLETED": [], "FAILED": []])
    /// Blocks run one after another in execution order; the first failure fails the job.
    public static let rules = SurfaceRules(
        surface: .blocks, lifecycle: lifecycle,
        flow: SequentialFlow(completedStatus: "COMPLETED", failedStatus: "FAILED"),
        publicIdSequence: "blocks_job_number")
}
