import Engine

/// The Workflow Manager domain's services on a thread's session.
extension Session {
    public var workflowItems: WorkflowItems { WorkflowItems(connection: connection) }
    public var stepJobs: StepJobs { StepJobs(connection: connection, items: workflowItems) }
    public var community: Community { Community(connection: connection) }
}
