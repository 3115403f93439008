import Engine

/// The Workflow Manager domain's services on a thread's session.
extension Session {
    public var workflowItems: WorkflowItems { WorkflowItems(connection: connection) }
    public var stepJobs: StepJobs { StepJobs(connection: connection, items: workflowItems) }
    public var community: Community { Community(connection: connection) }
    public var portalSignIns: PortalSignIns { PortalSignIns(connection: connection) }
    public var jobRecords: JobRecords { JobRecords(connection: connection) }
    public var itemRecords: ItemRecords { ItemRecords(connection: connection) }
}
