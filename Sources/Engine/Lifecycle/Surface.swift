/// The API dialects the engine serves; each keeps its own job statuses and public ids.
public enum SurfaceName: String, Sendable, CaseIterable {
    case itential
    case workflowManager = "workflow_manager"
    case blocks
    case scale
}
